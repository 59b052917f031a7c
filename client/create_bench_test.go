package client

import (
	"fmt"
	"testing"
)

// BenchmarkCreate measures a local create on a synced store: the schema
// and source checks, the record and its change-log entry, one durable
// transaction each. It is what an app pays per record it creates offline
// (go test ./client -run '^$' -bench Create).
func BenchmarkCreate(b *testing.B) {
	e := newEnv(b)
	e.sync()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := e.c.Create(e.ctx, "crm", "account", map[string]any{"name": fmt.Sprintf("Account %d", i)}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
