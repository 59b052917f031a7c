package pgnotify_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/synchub/synchub/host/events"
	"github.com/synchub/synchub/host/events/pgnotify"
	"github.com/synchub/synchub/host/store/storetest"
)

// wakeSeq is the seq the test's SourceSeq reports: a reconnect's wake-up
// carries it.
const wakeSeq = 4242

// instance is one hub instance's half: its pool, local hub and bridge.
type instance struct {
	db     *sql.DB
	local  *events.Hub
	bridge *pgnotify.Bridge
}

func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func start(t *testing.T, db *sql.DB, name string) *instance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	local := events.New()
	b, err := pgnotify.Start(ctx, pgnotify.Options{DB: db, Local: local, Instance: name,
		Logger:    storetest.Logger(t),
		SourceSeq: func(context.Context, string) (int64, error) { return wakeSeq, nil }})
	require.NoError(t, err)
	t.Cleanup(b.Close)
	return &instance{db: db, local: local, bridge: b}
}

func subscribe(t *testing.T, in *instance, source string, parts ...string) <-chan events.Event {
	t.Helper()
	ch, cancel := in.local.Subscribe(source, parts)
	t.Cleanup(cancel)
	return ch
}

// receive waits for an event with a deadline.
func receive(t *testing.T, ch <-chan events.Event) events.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		require.True(t, ok, "channel closed")
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return events.Event{}
}

// notifyRaw sends a notice as another instance named "test" would, on
// channel; it is committed after every notice committed before it, so a
// listener that reads it has read those.
func notifyRaw(t *testing.T, db *sql.DB, channel, source string, seq int64, parts ...string) {
	t.Helper()
	payload := fmt.Sprintf(`{"origin":"test","source":%q,"seq":%d,"partitions":["%s"]}`, source, seq, strings.Join(parts, `","`))
	_, err := db.Exec("SELECT pg_notify($1, $2)", channel, payload)
	require.NoError(t, err)
}

func TestBridge(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	t.Run("a_publish_reaches_the_other_instances_subscribers_of_its_partitions_only", func(t *testing.T) {
		db := openDB(t, storetest.PostgresDSN(t))
		a, b := start(t, db, "a"), start(t, db, "b")
		require.Equal(t, a.bridge.Channel(), b.bridge.Channel())
		onA := subscribe(t, a, "crm", "p1")
		onB := subscribe(t, b, "crm", "p1", "p2")
		otherPart := subscribe(t, b, "crm", "q")
		otherSource := subscribe(t, b, "erp", "p1")

		a.bridge.Publish("crm", []string{"p1", "p2"}, 5)
		assert.Equal(t, events.Event{Source: "crm", Seq: 5}, receive(t, onA), "the local subscriber")
		assert.Equal(t, events.Event{Source: "crm", Seq: 5}, receive(t, onB), "the other instance's subscriber")

		// Markers with lower seqs, committed after A's notice: had the
		// notice reached these subscribers, they would read 5 instead
		// (an unread event keeps the higher seq).
		notifyRaw(t, db, a.bridge.Channel(), "crm", 1, "q", "p1")
		notifyRaw(t, db, a.bridge.Channel(), "erp", 1, "p1")
		assert.Equal(t, int64(1), receive(t, otherPart).Seq, "a subscriber of other partitions heard the notice")
		assert.Equal(t, int64(1), receive(t, otherSource).Seq, "a subscriber of another source heard the notice")
		assert.Equal(t, int64(1), receive(t, onA).Seq, "the publishing instance heard its own notice again")
		assert.Equal(t, int64(1), receive(t, onB).Seq)
	})
	t.Run("another_schema_does_not_hear_it", func(t *testing.T) {
		dbA, dbC := openDB(t, storetest.PostgresDSN(t)), openDB(t, storetest.PostgresDSN(t))
		a, c := start(t, dbA, "a"), start(t, dbC, "c")
		require.NotEqual(t, a.bridge.Channel(), c.bridge.Channel())
		onA := subscribe(t, a, "crm", "p1")
		onC := subscribe(t, c, "crm", "p1")

		a.bridge.Publish("crm", []string{"p1"}, 5)
		receive(t, onA)
		notifyRaw(t, dbA, c.bridge.Channel(), "crm", 1, "p1")
		assert.Equal(t, int64(1), receive(t, onC).Seq, "the other schema's instance heard the notice")
	})
	t.Run("an_oversized_partition_list_still_wakes_the_subscribers", func(t *testing.T) {
		db := openDB(t, storetest.PostgresDSN(t))
		a, b := start(t, db, "a"), start(t, db, "b")
		var parts []string
		for i := range 2000 {
			parts = append(parts, fmt.Sprintf("account/owner=%040d", i))
		}
		first := subscribe(t, b, "crm", parts[0])
		last := subscribe(t, b, "crm", parts[len(parts)-1])
		a.bridge.Publish("crm", parts, 8)
		assert.Equal(t, int64(8), receive(t, first).Seq)
		assert.Equal(t, int64(8), receive(t, last).Seq)

		// One partition longer than a notice may be: a source-wide notice
		// wakes every subscriber of the source.
		other := subscribe(t, b, "crm", "unrelated")
		a.bridge.Publish("crm", []string{strings.Repeat("x", 9000)}, 9)
		assert.Equal(t, int64(9), receive(t, other).Seq)
	})
	t.Run("the_listener_reconnects_after_its_connection_is_killed", func(t *testing.T) {
		db := openDB(t, storetest.PostgresDSN(t))
		a, b := start(t, db, "a"), start(t, db, "b")
		onB := subscribe(t, b, "crm", "p1")

		var killed int
		require.NoError(t, db.QueryRow(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = 'synchub notices ' || $1`, b.bridge.Instance()).Scan(&killed))
		require.Equal(t, 1, killed, "the listener's backend")
		// The reconnect wakes every subscriber: notices sent meanwhile
		// are lost.
		assert.Equal(t, events.Event{Source: "crm", Seq: wakeSeq}, receive(t, onB))

		a.bridge.Publish("crm", []string{"p1"}, wakeSeq+1)
		assert.Equal(t, int64(wakeSeq+1), receive(t, onB).Seq)
	})
	t.Run("an_idle_listener_pings_its_connection_and_keeps_listening", func(t *testing.T) {
		db := openDB(t, storetest.PostgresDSN(t))
		local := events.New()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		b, err := pgnotify.Start(ctx, pgnotify.Options{DB: db, Local: local, HealthCheck: 20 * time.Millisecond,
			Logger:    storetest.Logger(t),
			SourceSeq: func(context.Context, string) (int64, error) { return wakeSeq, nil }})
		require.NoError(t, err)
		defer b.Close()
		ch, unsubscribe := local.Subscribe("crm", []string{"p1"})
		defer unsubscribe()
		// The listener's last statement turns from LISTEN into the ping.
		require.Eventually(t, func() bool {
			var pinged bool
			err := db.QueryRow(`SELECT count(*) > 0 FROM pg_stat_activity
				WHERE application_name = 'synchub notices ' || $1 AND query = '-- ping'`, b.Instance()).Scan(&pinged)
			return err == nil && pinged
		}, 10*time.Second, 10*time.Millisecond, "the listener never pinged")
		notifyRaw(t, db, b.Channel(), "crm", 3, "p1")
		assert.Equal(t, int64(3), receive(t, ch).Seq)
	})
	t.Run("close_leaves_no_goroutines", func(t *testing.T) {
		db := openDB(t, storetest.PostgresDSN(t))
		require.NoError(t, db.Ping())
		ignore := goleak.IgnoreCurrent()
		local := events.New()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		b, err := pgnotify.Start(ctx, pgnotify.Options{DB: db, Local: local,
			SourceSeq: func(context.Context, string) (int64, error) { return 0, nil }})
		require.NoError(t, err)
		b.Publish("crm", []string{"p"}, 1)
		b.Close()
		b.Close()
		goleak.VerifyNone(t, ignore)
	})
}
