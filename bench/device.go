package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/synchub/synchub/client"
	"github.com/synchub/synchub/host/hub"
)

// runDevice is P3: a new device's initial download of the mirror P1 left
// (every record, partition "*"), hub → client library → the device's
// SQLite store, through the REST API on a loopback listener. The hub runs
// in this process; the emulator is idle meanwhile.
func (b *bench) runDevice(ctx context.Context) {
	if b.p1.mirror.Kind == "" || !b.p1.ran {
		b.add(row{ID: "P3", What: whatOf["P3"], Value: "—", Target: targetOf["P3"], Status: skipped("P1 did not leave a mirror")})
		return
	}
	n := b.o.records
	st, err := openStore(ctx, b.p1.mirror)
	if err != nil {
		b.fail("P3", err)
		return
	}
	defer st.Close()
	cfg, err := b.p1.hub.config()
	if err != nil {
		b.fail("P3", err)
		return
	}
	h, err := hub.Open(ctx, hub.Options{Config: cfg, Store: st, Logger: hclog.NewNullLogger()})
	if err != nil {
		b.fail("P3", err)
		return
	}
	defer h.Close()
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()

	var rates, secs []float64
	pages := 0
	for r := range b.o.runs {
		dir, err := os.MkdirTemp(b.work, "device-")
		if err != nil {
			b.fail("P3", err)
			return
		}
		c, err := client.Open(ctx, client.Options{Path: filepath.Join(dir, "device.db")})
		if err != nil {
			b.fail("P3", err)
			return
		}
		if err := c.Login(ctx, srv.URL, "device", devicePassword); err != nil {
			c.Close()
			b.fail("P3", err)
			return
		}
		stopProfile := func() {}
		if r == 0 {
			stopProfile = b.startProfile("p3-cpu.pprof")
		}
		start := time.Now()
		rep, err := c.Sync(ctx, client.SyncOptions{SkipFiles: true})
		d := time.Since(start)
		stopProfile()
		c.Close()
		os.RemoveAll(dir)
		if err != nil {
			b.fail("P3", fmt.Errorf("run %d: %w", r+1, err))
			return
		}
		ops := 0
		for _, s := range rep.Sources {
			ops += s.Ops
			pages = s.Pages
		}
		if ops != n {
			b.fail("P3", fmt.Errorf("run %d: the device received %d ops, want %d", r+1, ops, n))
			return
		}
		rates = append(rates, float64(ops)/d.Seconds())
		secs = append(secs, d.Seconds())
		b.logf("P3 run %d: %d records in %.1fs (%s)", r+1, ops, d.Seconds(), rate(rates[len(rates)-1]))
	}
	med := median(rates)
	ratio := med / b.p1.sqlite
	b.add(row{ID: "P3", What: fmt.Sprintf("device initial download, %s records, hub (SQLite) → client library → device SQLite", thousands(int64(n))),
		Value:  fmt.Sprintf("%s = **%.2f ×** P1 (SQLite)", rate(med), ratio),
		Target: "records/s, ratio to P1 (no pass/fail bar)", Status: "measured"})
	b.detail("**P3** per run: %s (%s); %d pages of the client's default page size.", list(rates, rate),
		list(secs, func(x float64) string { return fmt.Sprintf("%.1f s", x) }), pages)
}
