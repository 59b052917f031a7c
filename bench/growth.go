package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/synchub/synchub/client"
	"github.com/synchub/synchub/connectors/dynamicscrm/emulator"
	"github.com/synchub/synchub/host/hub"
	"github.com/synchub/synchub/host/pull"
	"github.com/synchub/synchub/host/store"
)

// P7 shape: the back end holds growthAccounts accounts spread over its
// users; the mirror holds them plus filler records of other owners up to
// the size measured; each run changes growthChanges of the device user's
// accounts.
const (
	growthAccounts = 100
	growthChanges  = 10
	growthSmall    = 10000
	fillerOwners   = 1000
)

var growthFields = []string{"name", "telephone1", "address1_city", "description", "ownerid"}

// growthWorld is one P7 setup: a back end, a hub (real plugin, SQLite)
// whose mirror holds size records, and a device that synced its slice.
type growthWorld struct {
	size  int
	crm   *crm
	db    freshDB
	st    *store.Store
	h     *hub.Hub
	srv   *httptest.Server
	dev   *client.Client
	mine  []string // the device user's accounts in the back end
	run   int
	fills time.Duration
}

// runGrowth is P7: incremental pull + device sync of a few changes, with
// a small and a large mirror side by side.
func (b *bench) runGrowth(ctx context.Context) {
	if why := b.pluginMissing(); why != "" {
		b.add(row{ID: "P7", What: whatOf["P7"], Value: "—", Target: targetOf["P7"], Status: skipped(why)})
		return
	}
	var worlds []*growthWorld
	defer func() {
		for _, w := range worlds {
			w.close()
		}
	}()
	for _, size := range []int{growthSmall, b.o.growthBig} {
		w, err := b.newGrowthWorld(ctx, size)
		if err != nil {
			b.fail("P7", fmt.Errorf("%s records: %w", thousands(int64(size)), err))
			return
		}
		worlds = append(worlds, w)
		b.logf("P7: mirror of %s records ready (filler written in %.1fs)", thousands(int64(size)), w.fills.Seconds())
		if _, _, err := w.change(ctx); err != nil { // warm-up, not measured
			b.fail("P7", err)
			return
		}
	}
	times := make([][]float64, len(worlds))
	pulls := make([][]float64, len(worlds))
	var ratios []float64
	for r := range b.o.runs {
		for i, w := range worlds {
			pull, total, err := w.change(ctx)
			if err != nil {
				b.fail("P7", fmt.Errorf("%s records, run %d: %w", thousands(int64(w.size)), r+1, err))
				return
			}
			times[i] = append(times[i], total.Seconds())
			pulls[i] = append(pulls[i], pull.Seconds())
			b.logf("P7 %s records, run %d: pull %s + sync = %s", thousands(int64(w.size)), r+1, ms(pull), ms(total))
		}
		ratios = append(ratios, times[1][r]/times[0][r])
	}
	ratio := median(ratios)
	msf := func(x float64) string { return ms(time.Duration(x * float64(time.Second))) }
	b.add(row{ID: "P7", What: fmt.Sprintf("incremental pull + device sync of %d changes, %s vs %s records mirrored (SQLite)",
		growthChanges, thousands(growthSmall), thousands(int64(b.o.growthBig))),
		Value:  fmt.Sprintf("%s vs %s = **%.2f ×**", msf(median(times[0])), msf(median(times[1])), ratio),
		Target: "≤ 2 ×", Status: verdict(ratio <= 2)})
	b.detail("**P7** per run: %s records %s (of which the pull %s); %s records %s (pull %s); ratio %s. "+
		"The back end holds %d accounts; the mirror's other records belong to %d other owners and were written with store.ApplyBatch, as a pull writes them.",
		thousands(growthSmall), list(times[0], msf), list(pulls[0], msf), thousands(int64(b.o.growthBig)), list(times[1], msf), list(pulls[1], msf),
		list(ratios, func(x float64) string { return fmt.Sprintf("%.2f", x) }), growthAccounts, fillerOwners)
}

func (b *bench) newGrowthWorld(ctx context.Context, size int) (w *growthWorld, err error) {
	w = &growthWorld{size: size}
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	if w.crm, err = startCRM(growthAccounts, emulator.Options{Seed: 7}); err != nil {
		return nil, err
	}
	owner := w.crm.Users()[0]
	for _, id := range w.crm.IDs("accounts") {
		if row, ok := w.crm.Get("accounts", id); ok && strings.EqualFold(fmt.Sprint(row["_ownerid_value"]), owner.SystemUserID) {
			w.mine = append(w.mine, id)
		}
	}
	if len(w.mine) < growthChanges {
		return nil, fmt.Errorf("the device user owns %d accounts, want at least %d", len(w.mine), growthChanges)
	}
	if w.db, err = newDB(ctx, dbSQLite, b.work, ""); err != nil {
		return nil, err
	}
	if w.st, err = openStore(ctx, w.db); err != nil {
		return nil, err
	}
	hc := crmHub{PluginDir: b.o.pluginDir, DataDir: b.work, URL: w.crm.base, TokenURL: w.crm.tokenURL(),
		Partition: "owner:ownerid", Fields: growthFields, Users: []hubUser{{Name: "alice", Identity: owner.SystemUserID}}}
	cfg, err := hc.config()
	if err != nil {
		return nil, err
	}
	if w.h, err = hub.Open(ctx, hub.Options{Config: cfg, Store: w.st, Logger: hclog.NewNullLogger()}); err != nil {
		return nil, err
	}
	if _, err := w.h.Puller().PullEntity(ctx, "crm", "account", true); err != nil {
		return nil, err
	}
	start := time.Now()
	if err := w.fill(ctx, size-growthAccounts); err != nil {
		return nil, fmt.Errorf("fill the mirror: %w", err)
	}
	w.fills = time.Since(start)
	w.srv = httptest.NewServer(w.h.Handler())
	dir, err := os.MkdirTemp(b.work, "device-")
	if err != nil {
		return nil, err
	}
	if w.dev, err = client.Open(ctx, client.Options{Path: filepath.Join(dir, "device.db")}); err != nil {
		return nil, err
	}
	if err := w.dev.Login(ctx, w.srv.URL, "alice", devicePassword); err != nil {
		return nil, err
	}
	rep, err := w.dev.Sync(ctx, client.SyncOptions{SkipFiles: true})
	if err != nil {
		return nil, err
	}
	if ops := rep.Sources[0].Ops; ops != len(w.mine) {
		return nil, fmt.Errorf("the device's first sync got %d records, want %d", ops, len(w.mine))
	}
	return w, nil
}

// fill writes n records of other owners into the mirror, shaped like the
// pulled accounts, through store.ApplyBatch in pages of 5,000.
func (w *growthWorld) fill(ctx context.Context, n int) error {
	es, err := w.st.EntityState(ctx, "crm", "account")
	if err != nil {
		return err
	}
	const page = 5000
	now := time.Now().UTC()
	desc := strings.Repeat("Filler account written straight into the mirror for the cost-growth benchmark. ", 10)
	batch := make([]store.MirrorRecord, 0, page)
	for i := range n {
		owner := fmt.Sprintf("%08x-0000-4000-9000-%012x", i%fillerOwners, i%fillerOwners)
		fields, _ := json.Marshal(map[string]any{"name": fmt.Sprintf("Filler %d", i), "telephone1": "+1-555-0100",
			"address1_city": "Porto", "description": desc, "ownerid": map[string]any{"entity": "systemuser", "id": owner}})
		sum := sha256.Sum256(fields)
		batch = append(batch, store.MirrorRecord{ID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i), Version: `W/"1"`,
			ModifiedAt: &now, Fields: fields, Hash: hex.EncodeToString(sum[:16]), Partition: "account/owner=" + owner})
		if len(batch) == page || i == n-1 {
			if _, err := w.st.ApplyBatch(ctx, store.Batch{Source: "crm", Entity: "account", Put: batch, Pass: es.FullPass}); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return nil
}

// change edits growthChanges of the device user's accounts in the back
// end, then times an incremental pull and the device's sync.
func (w *growthWorld) change(ctx context.Context) (pullTime, total time.Duration, err error) {
	w.run++
	for i := range growthChanges {
		if w.crm.Upsert("accounts", w.mine[i], map[string]any{"name": fmt.Sprintf("Renamed %d/%d", w.run, i)}) == "" {
			return 0, 0, fmt.Errorf("emulator refused the edit of %s", w.mine[i])
		}
	}
	start := time.Now()
	res, err := w.h.Puller().PullEntity(ctx, "crm", "account", false)
	if err != nil {
		return 0, 0, err
	}
	pullTime = time.Since(start)
	rep, err := w.dev.Sync(ctx, client.SyncOptions{SkipFiles: true})
	if err != nil {
		return 0, 0, err
	}
	total = time.Since(start)
	if res.Mode != pull.ModeIncremental {
		return 0, 0, fmt.Errorf("the pull ran %s, want incremental", res.Mode)
	}
	if res.Changed != growthChanges || rep.Sources[0].Ops != growthChanges {
		return 0, 0, fmt.Errorf("pulled %d changes and the device got %d, want %d each", res.Changed, rep.Sources[0].Ops, growthChanges)
	}
	return pullTime, total, nil
}

func (w *growthWorld) close() {
	if w.dev != nil {
		w.dev.Close()
	}
	if w.srv != nil {
		w.srv.Close()
	}
	if w.h != nil {
		w.h.Close()
	}
	if w.st != nil {
		w.st.Close()
	}
	w.db.Drop()
	if w.crm != nil {
		w.crm.close()
	}
}
