package events_test

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/events"
)

// receive waits for an event with a deadline.
func receive(t *testing.T, ch <-chan events.Event) events.Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		require.True(t, ok, "channel closed")
		return ev
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}
	return events.Event{}
}

func assertNone(t *testing.T, ch <-chan events.Event) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

func TestHub(t *testing.T) {
	t.Run("a_subscriber_gets_changes_of_its_partitions_only", func(t *testing.T) {
		h := events.New()
		alice, cancelA := h.Subscribe("crm", []string{"account/owner=a", "product/*"})
		defer cancelA()
		bob, cancelB := h.Subscribe("crm", []string{"account/owner=b", "product/*"})
		defer cancelB()
		other, cancelO := h.Subscribe("erp", []string{"account/owner=a"})
		defer cancelO()

		h.Publish("crm", []string{"account/owner=a"}, 7)
		assert.Equal(t, events.Event{Source: "crm", Seq: 7}, receive(t, alice))
		assertNone(t, bob)
		assertNone(t, other)

		h.Publish("crm", []string{"product/*", "account/owner=b"}, 9)
		assert.Equal(t, int64(9), receive(t, alice).Seq)
		assert.Equal(t, int64(9), receive(t, bob).Seq)
		assertNone(t, bob) // one event per publish, however many partitions match
	})
	t.Run("a_slow_subscriber_is_coalesced_to_the_highest_seq", func(t *testing.T) {
		h := events.New()
		ch, cancel := h.Subscribe("crm", []string{"p"})
		defer cancel()
		for seq := int64(1); seq <= 100; seq++ {
			h.Publish("crm", []string{"p"}, seq)
		}
		h.Publish("crm", []string{"p"}, 50) // late and lower: does not win
		assert.Equal(t, int64(100), receive(t, ch).Seq)
		assertNone(t, ch)
	})
	t.Run("cancel_closes_the_channel_and_stops_delivery", func(t *testing.T) {
		h := events.New()
		ch, cancel := h.Subscribe("crm", []string{"p"})
		cancel()
		cancel()
		_, ok := <-ch
		assert.False(t, ok)
		h.Publish("crm", []string{"p"}, 1)
		assert.Zero(t, h.Subscribers("crm"))
	})
	t.Run("publish_never_blocks_under_concurrent_subscribe_and_cancel", func(t *testing.T) {
		h := events.New()
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(2)
			go func() {
				defer wg.Done()
				for j := range 200 {
					h.Publish("crm", []string{fmt.Sprint("p", j%4)}, int64(j))
				}
			}()
			go func() {
				defer wg.Done()
				for range 50 {
					_, cancel := h.Subscribe("crm", []string{fmt.Sprint("p", i%4)})
					cancel()
				}
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("publishers blocked")
		}
		assert.Zero(t, h.Subscribers("crm"))
	})
}

func TestHubWake(t *testing.T) {
	t.Run("wake_reaches_every_subscriber_of_the_source_once", func(t *testing.T) {
		h := events.New()
		alice, cancelA := h.Subscribe("crm", []string{"account/owner=a", "product/*"})
		defer cancelA()
		bob, cancelB := h.Subscribe("crm", []string{"account/owner=b"})
		defer cancelB()
		other, cancelO := h.Subscribe("erp", []string{"account/owner=a"})
		defer cancelO()
		assert.ElementsMatch(t, []string{"crm", "erp"}, h.Sources())

		h.Wake("crm", 12)
		assert.Equal(t, events.Event{Source: "crm", Seq: 12}, receive(t, alice))
		assertNone(t, alice)
		assert.Equal(t, events.Event{Source: "crm", Seq: 12}, receive(t, bob))
		assertNone(t, other)
	})
	t.Run("sources_forgets_a_source_without_subscribers", func(t *testing.T) {
		h := events.New()
		_, cancel := h.Subscribe("crm", []string{"p"})
		cancel()
		assert.Empty(t, h.Sources())
		h.Wake("crm", 1) // nobody to wake: no panic, no block
	})
}
