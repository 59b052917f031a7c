package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
)

// BenchmarkAcceptMutations stores a device's upload of 100 creates of about
// 1 KB each per call, as the REST API's mutations call does, on SQLite
// (go test ./host/store -run '^$' -bench AcceptMutations).
func BenchmarkAcceptMutations(b *testing.B) {
	s := storetest.SQLite(b)
	ctx := context.Background()
	fields := []byte(fmt.Sprintf(`{"name":"Account","description":%q}`, strings.Repeat("x", 1000)))
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		rows := make([]store.PushMutation, 100)
		for i := range rows {
			n++
			mid := fmt.Sprintf("m-%09d", n)
			rows[i] = store.PushMutation{Source: "crm", DeviceID: 1, UserID: 1, MutationID: mid, Entity: "account", Op: "create",
				RecordID: "r-" + mid, Fields: fields, Hash: mid, Status: store.MutationPending}
		}
		out, err := s.AcceptMutations(ctx, rows, nil)
		if err != nil {
			b.Fatal(err)
		}
		if !out[99].Inserted {
			b.Fatal("not inserted")
		}
	}
}
