package push

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
	"github.com/synchub/synchub/internal/cputime"
	"github.com/synchub/synchub/sdk"
)

// instantClient applies every op at once, answering the record as JSON:
// the op's fields and a version. It measures the hub's own share of a push.
type instantClient struct {
	sdk.Client
	n atomic.Int64
}

func (c *instantClient) Upload(_ context.Context, req sdk.UploadRequest) (sdk.UploadResponse, error) {
	resp := sdk.UploadResponse{Results: make([]sdk.OpResult, len(req.Ops))}
	now := time.Now().UTC()
	for i, op := range req.Ops {
		n := c.n.Add(1)
		raw := append([]byte(fmt.Sprintf(`{"version":%d,`, n)), op.Raw[1:]...)
		id := uuid.NewString() // the back end's id
		resp.Results[i] = sdk.OpResult{MutationID: op.MutationID, Status: sdk.StatusApplied, ID: id,
			Record: &sdk.Record{ID: id, Version: fmt.Sprintf(`W/"%d"`, n), ModifiedAt: now, Raw: raw}}
	}
	return resp, nil
}

// benchMirrored is how many records BenchmarkPushCreates's mirror holds
// before the push.
var benchMirrored = flag.Int("push.mirrored", 30000, "BenchmarkPushCreates: records mirrored before the push")

// BenchmarkPushCreates measures the push stage's own cost of a device's
// creates (about 1 KB each) on SQLite, the back end answering at once,
// per create: wall time, CPU and bytes written (the write-ahead log and
// its checkpoints):
//
//	go test ./host/push -run '^$' -bench PushCreates -benchtime 5x [-args -push.mirrored 100000]
func BenchmarkPushCreates(b *testing.B) {
	const n = 5000
	mirrored := *benchMirrored
	desc := strings.Repeat("Visited on site; follow up on the renewal and the new service contract. ", 12)
	var cpu time.Duration
	var wrote int64
	for b.Loop() {
		b.StopTimer()
		// As in P5, the account goes to everyone and holds no lookup.
		e := newEnv(b, storetest.SQLite(b), withConfig(func(s *config.Source) {
			s.Entities[1].Partition = config.PartitionRule{All: true, Raw: "*"}
		}), withOptions(func(o *Options) {
			inner, err := o.Client("crm")
			require.NoError(b, err)
			ic := &instantClient{Client: inner}
			o.Client = func(string) (sdk.Client, error) { return ic, nil }
		}))
		// The mirror holds accounts already, with the back end's ids
		// (random GUIDs), as P5's does: the pushed records' ids fall
		// among theirs.
		e.pull()
		for off := 0; off < mirrored; off += 1000 {
			var puts []store.MirrorRecord
			for i := off; i < off+1000; i++ {
				puts = append(puts, store.MirrorRecord{ID: uuid.NewString(), Version: "1", Fields: []byte(`{"name":"x","city":"` + desc + `"}`),
					Hash: fmt.Sprint(i), Partition: "*"})
			}
			_, err := e.st.ApplyBatch(context.Background(), store.Batch{Source: "crm", Entity: "account", Put: puts})
			require.NoError(b, err)
		}
		for off := 0; off < n; off += 100 {
			ms := make([]Mutation, 100)
			for i := range ms {
				ms[i] = create("account", fmt.Sprintf("dev-%d", off+i), map[string]any{"name": fmt.Sprintf("Account %d", off+i),
					"city": desc})
			}
			e.acceptOK(1, ms...)
		}
		// What the set-up wrote is copied back into the database first:
		// the push's own writes are measured, not the set-up's checkpoint.
		require.NoError(b, e.st.DB().Exec("PRAGMA wal_checkpoint(TRUNCATE)").Error)
		c0, w0 := cputime.Self(), written()
		b.StartTimer()
		res := e.push()
		cpu += cputime.Self() - c0
		wrote += written() - w0
		b.StopTimer()
		require.Equal(b, n, res.Ops)
		counts, err := e.st.CountMutations(ctxT(b), "crm")
		require.NoError(b, err)
		require.Equal(b, int64(n), counts[store.MutationApplied], "every create applied")
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/create")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/create")
	b.ReportMetric(float64(wrote)/float64(b.N*n), "written-B/create")
}

// written is how many bytes the process has written so far (wchar: the
// database's write-ahead log and checkpoints).
func written() int64 {
	raw, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "wchar: "); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}
