package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/hub"
	"github.com/synchub/synchub/host/pull"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/internal/cputime"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/sdktest/memconn"
)

// P4 shape: each user owns recordsPerUser accounts in a partition of its
// own; the trickle changes trickleRate records per second, each in a
// random user's partition, while the devices poll.
const (
	recordsPerUser = 20
	trickleRate    = 10
)

// pollWorld is a hub whose mirror P4 fills directly, served on loopback,
// and its logged-in devices.
type pollWorld struct {
	st      *store.Store
	h       *hub.Hub
	srv     *httptest.Server
	cfg     *config.Config
	src     *config.Source
	schema  sdk.EntitySchema
	devices []*device
	version atomic.Int64
}

// device is one polling device with a connection of its own, as a real
// device has.
type device struct {
	hc                      *http.Client
	user, token, checkpoint string
	lat                     []time.Duration
	ops, errs               int
}

func pollUser(i int) string { return fmt.Sprintf("u%04d", i) }

// runPoll is P4 on SQLite and on PostgreSQL.
func (b *bench) runPoll(ctx context.Context) {
	for _, kind := range b.dbKinds() {
		if err := b.pollOn(ctx, kind); err != nil {
			b.fail("P4", fmt.Errorf("%s: %w", label(kind), err))
		}
	}
}

func (b *bench) pollOn(ctx context.Context, kind string) error {
	f, err := newDB(ctx, kind, b.work, b.o.postgres)
	if err != nil {
		return err
	}
	defer f.Drop()
	w, err := b.newPollWorld(ctx, f)
	if err != nil {
		return err
	}
	defer w.close()
	b.logf("P4 %s: %d devices logged in and synced (%d records each)", label(kind), len(w.devices), recordsPerUser)
	if kind == dbPostgres {
		// The benchmarks before this one wrote gigabytes; their dirty
		// pages go to disk now rather than during the measurement.
		if err := w.st.DB().WithContext(ctx).Exec("CHECKPOINT").Error; err != nil {
			b.logf("P4 %s: CHECKPOINT: %v (measuring anyway)", label(kind), err)
		}
	}

	type scenario struct {
		name    string
		trickle bool
	}
	for _, sc := range []scenario{{"no new data", false}, {fmt.Sprintf("trickle of %d changes/s", trickleRate), true}} {
		var p50, p95, p99, rps []float64
		var ops, errs int
		for r := range b.o.runs {
			var stopProfile func()
			if kind == dbSQLite && !sc.trickle && r == 0 {
				stopProfile = b.startProfile("p4-cpu.pprof")
			}
			cpu0, t0 := cputime.Self(), time.Now()
			lat, o, e, reqs, err := w.pollRound(ctx, b.o.poll, b.o.pollFor, sc.trickle)
			cores := (cputime.Self() - cpu0).Seconds() / time.Since(t0).Seconds()
			if stopProfile != nil {
				stopProfile()
			}
			if err != nil {
				return err
			}
			ops, errs = ops+o, errs+e
			p50 = append(p50, float64(percentile(lat, 50)))
			p95 = append(p95, float64(percentile(lat, 95)))
			p99 = append(p99, float64(percentile(lat, 99)))
			rps = append(rps, float64(reqs)/b.o.pollFor.Seconds())
			b.logf("P4 %s, %s, run %d: %d polls (%.0f/s), p50 %s p95 %s p99 %s, %d ops, %d errors, %.2f cores busy", label(kind), sc.name, r+1,
				reqs, rps[len(rps)-1], ms(percentile(lat, 50)), ms(percentile(lat, 95)), ms(percentile(lat, 99)), o, e, cores)
		}
		d := func(x float64) string { return ms(time.Duration(x)) }
		ok := time.Duration(median(p95)) < 50*time.Millisecond && errs == 0
		errNote := ""
		if errs > 0 {
			errNote = fmt.Sprintf("; **%d failed polls**", errs)
		}
		b.add(row{ID: "P4", What: fmt.Sprintf("%d devices polling `changes` every %s, %s, %s", len(w.devices), b.o.poll, sc.name, label(kind)),
			Value:  fmt.Sprintf("p50 %s, **p95 %s**, p99 %s (%.0f polls/s%s)", d(median(p50)), d(median(p95)), d(median(p99)), median(rps), errNote),
			Target: "p95 < 50 ms", Status: verdict(ok)})
		b.detail("**P4 %s, %s** per run (%s each): p50 %s; p95 %s; p99 %s; ops delivered %d.", label(kind), sc.name, b.o.pollFor,
			list(p50, d), list(p95, d), list(p99, d), ops)
	}
	return nil
}

func (b *bench) newPollWorld(ctx context.Context, f freshDB) (*pollWorld, error) {
	n := b.o.devices
	var cfgText strings.Builder
	fmt.Fprintf(&cfgText, "hub {\n  data_dir = %q\n  checkpoint_key = %q\n}\n", b.work, checkpointKey)
	cfgText.WriteString(`source "mem" {
  plugin        = "memconn"
  interval      = "0"
  max_staleness = "24h"
  entity "account" { partition_by = "owner:owner" }
}
`)
	users := make([]hubUser, n)
	for i := range users {
		users[i] = hubUser{Name: pollUser(i + 1), Identity: pollUser(i + 1)}
	}
	writeUsers(&cfgText, "mem", users)
	cfg, err := config.Parse([]byte(cfgText.String()), filepath.Join(b.work, "poll.hcl"))
	if err != nil {
		return nil, err
	}
	st, err := openStore(ctx, f)
	if err != nil {
		return nil, err
	}
	w := &pollWorld{st: st, cfg: cfg}
	w.src, _ = cfg.Source("mem")
	w.h, err = hub.Open(ctx, hub.Options{Config: cfg, Store: st, Logger: hclog.NewNullLogger(),
		Clients: map[string]sdk.Client{"mem": sdk.InProcess(memconn.New(), nil)}})
	if err != nil {
		st.Close()
		return nil, err
	}
	src, _ := w.h.Sources().Get("mem")
	w.schema, _ = src.Schema.Entity("account")
	if err := w.fill(ctx, n); err != nil {
		w.close()
		return nil, err
	}
	w.srv = httptest.NewServer(w.h.Handler())
	if err := w.login(ctx, n); err != nil {
		w.close()
		return nil, err
	}
	return w, nil
}

func (w *pollWorld) close() {
	if w.srv != nil {
		w.srv.Close()
	}
	for _, d := range w.devices {
		d.hc.CloseIdleConnections()
	}
	w.h.Close()
	w.st.Close()
}

// account is a P4 record: account k of user u.
func (w *pollWorld) account(u, k int) sdk.Record {
	v := w.version.Add(1)
	return sdk.Record{ID: fmt.Sprintf("acc-%s-%02d", pollUser(u), k), Version: fmt.Sprint(v), ModifiedAt: time.Now().UTC(),
		Fields: map[string]any{"name": fmt.Sprintf("Account %d of %s", k, pollUser(u)), "city": "Oslo",
			"owner": map[string]any{"entity": "user", "id": pollUser(u)}, "revenue": v}}
}

// put writes records into the mirror as a pull would.
func (w *pollWorld) put(ctx context.Context, recs []sdk.Record) error {
	ent, _ := w.src.Entity("account")
	puts, _, err := pull.MirrorRecords(w.src, ent, w.schema, recs)
	if err != nil {
		return err
	}
	_, err = w.st.ApplyBatch(ctx, store.Batch{Source: "mem", Entity: "account", Put: puts, Pass: 1})
	return err
}

// fill mirrors recordsPerUser accounts per user and marks the entity
// freshly pulled, so that no device poll triggers a pull.
func (w *pollWorld) fill(ctx context.Context, users int) error {
	if _, err := w.st.EnsureEntityState(ctx, "mem", "account"); err != nil {
		return err
	}
	var recs []sdk.Record
	for u := 1; u <= users; u++ {
		for k := range recordsPerUser {
			recs = append(recs, w.account(u, k))
		}
		if len(recs) >= 1000 || u == users {
			if err := w.put(ctx, recs); err != nil {
				return err
			}
			recs = recs[:0]
		}
	}
	return w.st.PullFinished(ctx, "mem", "account", time.Now(), nil)
}

// login logs every device in and runs its initial download.
func (w *pollWorld) login(ctx context.Context, n int) error {
	w.devices = make([]*device, n)
	errc := make(chan error, n)
	sem := make(chan struct{}, 16)
	var wg sync.WaitGroup
	for i := range n {
		d := &device{user: pollUser(i + 1), hc: &http.Client{Timeout: time.Minute,
			Transport: &http.Transport{MaxIdleConnsPerHost: 1, IdleConnTimeout: 5 * time.Minute}}}
		w.devices[i] = d
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			body, _ := json.Marshal(map[string]string{"username": d.user, "password": devicePassword, "device_id": "bench-" + d.user})
			resp, err := d.hc.Post(w.srv.URL+"/v1/auth/token", "application/json", bytes.NewReader(body))
			if err != nil {
				errc <- err
				return
			}
			var tok struct {
				AccessToken string `json:"access_token"`
			}
			err = decodeJSON(resp, &tok)
			resp.Body.Close()
			if err != nil {
				errc <- fmt.Errorf("login %s: %w", d.user, err)
				return
			}
			d.token = tok.AccessToken
			got := 0
			for {
				ops, more, err := w.poll(ctx, d)
				if err != nil {
					errc <- fmt.Errorf("initial sync of %s: %w", d.user, err)
					return
				}
				got += ops
				if !more {
					break
				}
			}
			if got != recordsPerUser {
				errc <- fmt.Errorf("initial sync of %s: %d ops, want %d", d.user, got, recordsPerUser)
			}
		})
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// poll is one GET .../changes of d from its checkpoint.
func (w *pollWorld) poll(ctx context.Context, d *device) (ops int, more bool, err error) {
	u := w.srv.URL + "/v1/sources/mem/changes?" + url.Values{"checkpoint": {d.checkpoint}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Authorization", "Bearer "+d.token)
	resp, err := d.hc.Do(req)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	var page struct {
		Ops        []json.RawMessage `json:"ops"`
		Checkpoint string            `json:"checkpoint"`
		HasMore    bool              `json:"has_more"`
	}
	if err := decodeJSON(resp, &page); err != nil {
		return 0, false, err
	}
	if page.Checkpoint == "" {
		return 0, false, errors.New("answer without a checkpoint")
	}
	d.checkpoint = page.Checkpoint
	return len(page.Ops), page.HasMore, nil
}

// pollRound lets every device poll for dur, each pausing interval (±20 %)
// between polls and starting at a random point of the first interval, while
// the trickle (when on) changes records. It returns the sorted latencies.
func (w *pollWorld) pollRound(ctx context.Context, interval, dur time.Duration, trickle bool) ([]time.Duration, int, int, int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	end := time.Now().Add(interval + dur)
	measureFrom := time.Now().Add(interval) // every device has started
	var wg sync.WaitGroup
	var trickleErr error
	if trickle {
		wg.Go(func() {
			t := time.NewTicker(time.Second / trickleRate)
			defer t.Stop()
			for time.Now().Before(end) {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				u := 1 + rand.IntN(len(w.devices))
				if err := w.put(ctx, []sdk.Record{w.account(u, rand.IntN(recordsPerUser))}); err != nil {
					trickleErr = err
					return
				}
			}
		})
	}
	for _, d := range w.devices {
		d.lat, d.ops, d.errs = d.lat[:0], 0, 0
		wg.Go(func() {
			pause := func(d time.Duration) bool {
				t := time.NewTimer(d)
				defer t.Stop()
				select {
				case <-ctx.Done():
					return false
				case <-t.C:
					return true
				}
			}
			if !pause(time.Duration(rand.Int64N(int64(interval)))) {
				return
			}
			for {
				start := time.Now()
				if !start.Before(end) {
					return
				}
				ops, _, err := w.poll(ctx, d)
				lat := time.Since(start)
				if !start.Before(measureFrom) {
					d.lat = append(d.lat, lat)
					d.ops += ops
					if err != nil {
						d.errs++
					}
				}
				jitter := time.Duration(float64(interval) * (0.8 + 0.4*rand.Float64()))
				if !pause(jitter) {
					return
				}
			}
		})
	}
	wg.Wait()
	if trickleErr != nil {
		return nil, 0, 0, 0, fmt.Errorf("trickle: %w", trickleErr)
	}
	var all []time.Duration
	ops, errs := 0, 0
	for _, d := range w.devices {
		all = append(all, d.lat...)
		ops += d.ops
		errs += d.errs
	}
	slices.Sort(all)
	return all, ops, errs, len(all), nil
}
