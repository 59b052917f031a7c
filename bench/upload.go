package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/tidwall/gjson"

	"github.com/synchub/synchub/client"
	"github.com/synchub/synchub/connectors/dynamicscrm"
	"github.com/synchub/synchub/connectors/odata"
	"github.com/synchub/synchub/host/hub"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/internal/cputime"
	"github.com/synchub/synchub/sdk"
)

// uploadBatch is the batch size on every hop of P5: the client library's
// upload calls, the source's push batch_size and the raw $batch loop
// (each the default).
const uploadBatch = 100

// uploadFields are the fields of a P5 create (about 1 KB of JSON).
var uploadFieldNames = []string{"name", "telephone1", "emailaddress1", "address1_city", "description"}

func uploadFields(i int) map[string]any {
	return map[string]any{
		"name":          fmt.Sprintf("Bench Device Account %d", i),
		"telephone1":    fmt.Sprintf("+1-555-%04d", i%10000),
		"emailaddress1": fmt.Sprintf("device%d@bench.example", i),
		"address1_city": "Lisbon",
		"description":   strings.Repeat("Visited on site; follow up on the renewal and the new service contract. ", 12),
	}
}

// runUpload is P5: device mutations pushed to the back end through the
// whole pipeline, against the emulator's raw $batch ingest in the same
// run.
func (b *bench) runUpload(ctx context.Context) {
	if why := b.pluginMissing(); why != "" {
		b.add(row{ID: "P5", What: whatOf["P5"], Value: "—", Target: targetOf["P5"], Status: skipped(why)})
		return
	}
	n := b.o.mutations
	// The back end runs in a process of its own, as a real one does: see
	// emuChildFlag.
	c, err := spawnCRM(ctx, 100)
	if err != nil {
		b.fail("P5", err)
		return
	}
	defer c.close()
	instant, err := newInstantBackend(ctx, c.endpoint)
	if err != nil {
		b.fail("P5", err)
		return
	}
	var pipe, apply, raw, ratios, pipeRatios, alone, book, pgApply, pgRatios []float64
	var cpus []p5CPU
	var pgCPU []p5CPU
	var toFirst, afterLast []float64
	for r := range b.o.runs {
		rawRate, rawCPU, a, err := b.rawThenApply(ctx, c, dbSQLite, n)
		if err != nil {
			b.fail("P5", fmt.Errorf("run %d: %w", r+1, err))
			return
		}
		raw = append(raw, rawRate)
		apply = append(apply, a.rate(n))
		// End to end (the device's upload with the queue running) is for
		// the record, with no bar: the first round only, which keeps the
		// default run under 10 minutes.
		var p pushRun
		if r == 0 {
			if p, err = b.pushOnce(ctx, c, dbSQLite, n, false, false, nil); err != nil {
				b.fail("P5", fmt.Errorf("pipeline run %d: %w", r+1, err))
				return
			}
			pipe = append(pipe, p.rate(n))
			pipeRatios = append(pipeRatios, pipe[0]/raw[0])
		}
		instant.n.Store(0)
		instant.first.Store(0)
		h, err := b.pushOnce(ctx, c, dbSQLite, n, false, true, instant)
		if err != nil {
			b.fail("P5", fmt.Errorf("hub-alone run %d: %w", r+1, err))
			return
		}
		alone = append(alone, h.rate(n))
		toFirst, afterLast = append(toFirst, h.toFirst.Seconds()), append(afterLast, h.afterLast.Seconds())
		cpu := a.applyCPU()
		cpu.raw, cpu.alone = rawCPU.Seconds(), h.benchCPU.Seconds()
		cpus = append(cpus, cpu)
		held, err := c.accounts(ctx)
		if err != nil {
			b.fail("P5", err)
			return
		}
		k, err := bookkeeping(ctx, b.work, n, held)
		if err != nil {
			b.fail("P5", fmt.Errorf("bookkeeping run %d: %w", r+1, err))
			return
		}
		book = append(book, float64(n)/k.Seconds())
		ratios = append(ratios, apply[len(apply)-1]/raw[len(raw)-1])
		e2e := ""
		if r == 0 {
			e2e = fmt.Sprintf("device → hub → plugin → emulator %s (%.1fs), ratio %.2f; ", rate(pipe[0]), p.wall.Seconds(), pipeRatios[0])
		}
		b.logf("P5 run %d: raw $batch %s; hub → plugin → emulator %s (%.1fs), ratio %.2f; %s"+
			"the hub alone with an instant back end %s (%.2fs; first Upload after %.2fs, last %.2fs before the end), ratio %.2f; the store's writes alone %s (%.1fs), ratio %.2f; CPU: %s", r+1,
			rate(raw[len(raw)-1]), rate(apply[len(apply)-1]), a.wall.Seconds(), ratios[len(ratios)-1], e2e,
			rate(alone[len(alone)-1]), h.wall.Seconds(), h.toFirst.Seconds(), h.afterLast.Seconds(),
			alone[len(alone)-1]/raw[len(raw)-1], rate(book[len(book)-1]), k.Seconds(), book[len(book)-1]/raw[len(raw)-1],
			cpus[len(cpus)-1])
	}
	// PostgreSQL's runs come after SQLite's rounds, each after a raw run of
	// its own: its server's work after a run (autovacuum, checkpoints)
	// would otherwise fall into the next SQLite round's apply run.
	var pgRaw []float64
	for r := range b.o.runs {
		if b.o.postgres == "" {
			break
		}
		rawRate, _, pg, err := b.rawThenApply(ctx, c, dbPostgres, n)
		if err != nil {
			b.fail("P5", fmt.Errorf("PostgreSQL run %d: %w", r+1, err))
			return
		}
		pgRaw = append(pgRaw, rawRate)
		pgApply = append(pgApply, pg.rate(n))
		pgRatios = append(pgRatios, pgApply[r]/pgRaw[r])
		pgCPU = append(pgCPU, pg.applyCPU())
		b.logf("P5 run %d on PostgreSQL: raw $batch %s; hub → plugin → emulator %s (%.1fs), ratio %.2f; CPU: %s", r+1,
			rate(pgRaw[r]), rate(pgApply[r]), pg.wall.Seconds(), pgRatios[r], pgCPU[r].apply())
	}
	// The profiles come from one more apply run and hub-alone run, not
	// counted: a profiler costs the process it samples some of its time.
	if a, err := b.pushOnce(ctx, c, dbSQLite, n, true, true, nil); err != nil {
		b.logf("P5 profiled apply run: %v", err)
	} else {
		b.p5wall = a.wall.Seconds()
	}
	instant.n.Store(0)
	instant.first.Store(0)
	if _, err := b.pushOnce(ctx, c, dbSQLite, n, true, true, instant); err != nil {
		b.logf("P5 profiled hub-alone run: %v", err)
	}
	b.p5cpu = medianCPU(cpus)
	ratio := median(ratios)
	b.add(row{ID: "P5", What: fmt.Sprintf("upload apply: %s device creates accepted by the hub (SQLite), pushed through the plugin to the emulator in batches of %d",
		thousands(int64(n)), uploadBatch),
		Value: fmt.Sprintf("%s = **%.2f ×** raw `$batch` ingest (%s); end to end from the device's sync (first round): %s = %.2f ×; "+
			"the hub alone, its back end answering at once: %s = %.2f ×; the store's writes alone, a plain loop: %s = %.2f ×",
			rate(median(apply)), ratio, rate(median(raw)), rate(median(pipe)), median(pipeRatios),
			rate(median(alone)), median(alone)/median(raw), rate(median(book)), median(book)/median(raw)),
		Target: "≥ 0.50 × raw $batch ingest", Status: verdict(ratio >= 0.5)})
	b.p5alone, b.p5raw, b.p5book = median(alone)/median(raw), median(raw), median(book)/median(raw)
	b.p5phases = [2]float64{median(toFirst), median(afterLast)}
	if len(pgApply) > 0 {
		pgRatio := median(pgRatios)
		b.add(row{ID: "P5", What: fmt.Sprintf("upload apply on PostgreSQL: the same %s creates, the hub's store on PostgreSQL", thousands(int64(n))),
			Value:  fmt.Sprintf("%s = **%.2f ×** raw `$batch` ingest (%s)", rate(median(pgApply)), pgRatio, rate(median(pgRaw))),
			Target: "≥ 0.50 × raw $batch ingest (P5's bar, applied for the record: the issue's P5 names no database)", Status: verdict(pgRatio >= 0.5)})
		b.p5pgRaw = median(pgRaw)
	}
	b.detail("**P5** per run: apply %s; end to end (first round) %s; raw `$batch` %s; apply ratio %s; the hub alone %s; the store's writes alone %s. The apply time runs from the "+
		"start of the push stage's drain of the source (`Pusher.PushSource`, what the job the upload queued runs), the device's upload "+
		"already accepted, until it returns, every mutation recorded applied (and the emulator holding every record); the end-to-end time "+
		"from the device's sync (upload calls, then the download of the results) with the hub's queue running. The hub-alone time is the apply time of the same hub and store with the connector in process and Upload "+
		"answered at once, each create with the record the emulator answers to a create: the hub's own share of the apply stage. "+
		"The store's writes alone are the durable writes the push stage makes for the same creates (per batch: the ops inserted and "+
		"the mutations marked in flight in one transaction; each record and its partition item written, the mutations marked "+
		"applied and the ops deleted in a second), made by a plain loop of statements on a fresh SQLite store of the hub's schema "+
		"whose mirror holds as many records as the emulator: no planning, no connector, no Go code between the statements.",
		list(apply, rate), list(pipe, rate), list(raw, rate), list(ratios, func(x float64) string { return fmt.Sprintf("%.2f", x) }),
		list(alone, rate), list(book, rate))
	cpuRuns := make([]string, len(cpus))
	for i, c := range cpus {
		cpuRuns[i] = c.String()
	}
	b.detail("**P5 CPU** per run, from the processes' own accounting: %s.", strings.Join(cpuRuns, "; "))
	if len(pgApply) > 0 {
		b.p5pgCPU = medianCPU(pgCPU)
		pgRuns := make([]string, len(pgCPU))
		for i, c := range pgCPU {
			pgRuns[i] = c.apply()
		}
		b.detail("**P5 PostgreSQL** per run, made after the SQLite rounds, each after a raw `$batch` run of its own: raw %s; apply %s; ratio %s; CPU: %s.",
			list(pgRaw, rate), list(pgApply, rate), list(pgRatios, func(x float64) string { return fmt.Sprintf("%.2f", x) }), strings.Join(pgRuns, "; "))
	}
}

// rawThenApply makes a raw $batch run and then an apply run on kind's
// store, one after the other: the two sides of one P5 ratio. It returns
// the raw rate and the emulator's CPU in the raw loop.
func (b *bench) rawThenApply(ctx context.Context, c *remoteCRM, kind string, n int) (float64, time.Duration, pushRun, error) {
	d, rawCPU, err := rawIngest(ctx, c, n)
	if err != nil {
		return 0, 0, pushRun{}, fmt.Errorf("raw $batch: %w", err)
	}
	a, err := b.pushOnce(ctx, c, kind, n, false, true, nil)
	if err != nil {
		return 0, 0, pushRun{}, fmt.Errorf("%s apply: %w", label(kind), err)
	}
	return float64(n) / d.Seconds(), rawCPU, a, nil
}

// instantBackend is the Dynamics connector in process with Upload
// answered at once: every create is applied and answered with the record
// the emulator gave a create, holding the op's fields. It measures the
// hub's own share of P5.
type instantBackend struct {
	sdk.Client
	// rest is the emulator's answer to a create without the fields a P5
	// create sets: `{"a":…,"b":…` (no closing brace).
	rest []byte
	n    atomic.Int64
	// first and last are when the run's first and last Upload came (unix
	// nanoseconds; first 0 before the first).
	first, last atomic.Int64
}

// newInstantBackend reads the emulator's answer to one create, through
// the connector in process.
func newInstantBackend(ctx context.Context, c endpoint) (*instantBackend, error) {
	conn := dynamicscrm.New()
	cfg, err := json.Marshal(map[string]any{"url": c.base, "token_url": c.tokenURL(), "tenant_id": emuTenant,
		"client_id": emuClient, "client_secret": emuSecret})
	if err != nil {
		return nil, err
	}
	cl := sdk.InProcess(conn, nil)
	if err := cl.Configure(ctx, sdk.ConfigureRequest{Source: "crm", Config: cfg}); err != nil {
		return nil, fmt.Errorf("instant back end: configure: %w", err)
	}
	f := uploadFields(0)
	resp, err := cl.Upload(ctx, sdk.UploadRequest{Ops: []sdk.Op{{MutationID: uuid.NewString(), Entity: "account", Kind: sdk.OpCreate,
		ID: uuid.NewString(), Fields: f}}})
	if err != nil {
		return nil, fmt.Errorf("instant back end: a create: %w", err)
	}
	if len(resp.Results) != 1 || resp.Results[0].Record == nil {
		return nil, fmt.Errorf("instant back end: a create answered %+v", resp.Results)
	}
	raw, err := resp.Results[0].Record.FieldsJSON()
	if err != nil {
		return nil, err
	}
	rest := []byte{'{'}
	gjson.ParseBytes(raw).ForEach(func(k, v gjson.Result) bool {
		if _, set := f[k.Str]; set || k.Str == "ownerid" {
			return true
		}
		if len(rest) > 1 {
			rest = append(rest, ',')
		}
		rest = append(append(append(rest, k.Raw...), ':'), v.Raw...)
		return true
	})
	return &instantBackend{rest: rest}, nil
}

func (ib *instantBackend) Upload(_ context.Context, req sdk.UploadRequest) (sdk.UploadResponse, error) {
	resp := sdk.UploadResponse{Results: make([]sdk.OpResult, len(req.Ops))}
	now := time.Now().UTC()
	ib.first.CompareAndSwap(0, now.UnixNano())
	ib.last.Store(now.UnixNano())
	for i, op := range req.Ops {
		own := []byte(op.Raw) // the hub sends the fields as JSON
		if len(own) < 2 {
			var err error
			if own, err = json.Marshal(op.Fields); err != nil {
				return resp, err
			}
		}
		raw := make([]byte, 0, len(ib.rest)+len(own)+1)
		raw = append(append(append(raw, ib.rest...), ','), own[1:]...)
		n := ib.n.Add(1)
		resp.Results[i] = sdk.OpResult{MutationID: op.MutationID, Status: sdk.StatusApplied, ID: op.ID,
			Record: &sdk.Record{ID: op.ID, Version: fmt.Sprintf(`W/"%d"`, 1000000+n), ModifiedAt: now, Raw: raw}}
	}
	return resp, nil
}

// rawIngest posts n creates to the emulator as the connector shapes them
// (each create a request of its own, outside any change set, with the
// connector's Prefer; the batch continue-on-error), in $batch requests of
// uploadBatch, from a plain loop. It returns the loop's wall time and the
// CPU the emulator child used meanwhile: its handling of the creates.
func rawIngest(ctx context.Context, c *remoteCRM, n int) (wall, cpu time.Duration, err error) {
	hc := &http.Client{Timeout: time.Minute}
	defer hc.CloseIdleConnections()
	tok, err := c.token(ctx, hc)
	if err != nil {
		return 0, 0, err
	}
	before, err := c.accounts(ctx)
	if err != nil {
		return 0, 0, err
	}
	// Bodies are made before the clock starts: the loop measures ingest.
	var bodies [][]byte
	var types []string
	for off := 0; off < n; off += uploadBatch {
		var rows [][]byte
		for i := off; i < min(off+uploadBatch, n); i++ {
			f := uploadFields(i)
			f["accountid"] = uuid.NewString()
			body, _ := json.Marshal(f)
			rows = append(rows, body)
		}
		body, ct, err := batchBody("/api/data/v9.2/accounts", rows)
		if err != nil {
			return 0, 0, err
		}
		bodies, types = append(bodies, body), append(types, ct)
	}
	start, cpu0 := time.Now(), c.cpu()
	for i, body := range bodies {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api/data/v9.2/$batch", bytes.NewReader(body))
		if err != nil {
			return 0, 0, err
		}
		for k, vs := range odata.Headers() {
			req.Header[k] = vs
		}
		req.Header.Set("Content-Type", types[i])
		req.Header.Set("Prefer", odata.Prefer{ContinueOnError: true}.String())
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hc.Do(req)
		if err != nil {
			return 0, 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return 0, 0, fmt.Errorf("$batch answered %s", resp.Status)
		}
	}
	wall, cpu = time.Since(start), c.cpu()-cpu0
	after, err := c.accounts(ctx)
	if err != nil {
		return 0, 0, err
	}
	if got := after - before; got != n {
		return 0, 0, fmt.Errorf("the emulator gained %d accounts, want %d", got, n)
	}
	return wall, cpu, nil
}

// batchBody writes a multipart/mixed `$batch` body (OData 4.0 §11.7) of
// creates of path as the connector writes a non-atomic batch (odata.Batch,
// each create a request of its own with dynamicscrm.WritePrefer), and
// returns it with its Content-Type.
func batchBody(path string, rows [][]byte) ([]byte, string, error) {
	var b odata.Batch
	for _, row := range rows {
		h := http.Header{}
		dynamicscrm.WritePrefer.Set(h)
		b.Add(odata.BatchRequest{Method: http.MethodPost, URL: path, Header: h, Body: row})
	}
	var buf bytes.Buffer
	ct, err := b.Write(&buf)
	return buf.Bytes(), ct, err
}

// pushOnce runs one pipeline pass: a fresh hub (real plugin, SQLite) and a
// fresh device that creates n accounts offline, then syncs; the time runs
// from the sync until the hub has recorded all n applied. With applyOnly
// the hub is not started (no job queue, no pull scheduler): once the
// device's sync is over, the push stage drains the source
// (Pusher.PushSource), and the time runs from there until it returns;
// with profile as well, the apply is profiled (the hub, and the plugin
// unless instant answers).
func (b *bench) pushOnce(ctx context.Context, c *remoteCRM, kind string, n int, profile, applyOnly bool, instant *instantBackend) (pushRun, error) {
	st, done, err := freshStore(ctx, kind, b.work, b.o.postgres)
	if err != nil {
		return pushRun{}, err
	}
	defer done()
	hc := crmHub{PluginDir: b.o.pluginDir, DataDir: b.work, URL: c.base, TokenURL: c.tokenURL(),
		Partition: "*", Fields: uploadFieldNames, Users: []hubUser{{Name: "device"}}}
	cfg, err := hc.config()
	if err != nil {
		return pushRun{}, err
	}
	hopts := hub.Options{Config: cfg, Store: st, Logger: hclog.NewNullLogger()}
	if profile && applyOnly && instant == nil {
		// The plugin process profiles itself until the hub stops it.
		if path, err := b.profileFile("p5-plugin-cpu.pprof"); err == nil {
			hopts.PluginEnv = []string{sdk.CPUProfileEnv + "=" + path}
		} else {
			b.logf("profile p5-plugin-cpu.pprof: %v", err)
		}
	}
	if instant != nil {
		instant.Client = sdk.InProcess(dynamicscrm.New(), nil)
		hopts.Clients = map[string]sdk.Client{"crm": instant}
	}
	h, err := hub.Open(ctx, hopts)
	if err != nil {
		return pushRun{}, err
	}
	defer h.Close()
	// A first pull, so that device syncs find the mirror fresh.
	if _, err := h.Puller().PullEntity(ctx, "crm", "account", true); err != nil {
		return pushRun{}, err
	}
	hctx, stop := context.WithCancel(ctx)
	defer stop()
	if !applyOnly {
		if err := h.Start(hctx); err != nil {
			return pushRun{}, err
		}
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = h.Pusher().Stop(sctx)
		_ = h.Puller().Stop(sctx)
	}()
	srv := httptest.NewServer(h.Handler())
	defer srv.Close()

	dir, err := os.MkdirTemp(b.work, "device-")
	if err != nil {
		return pushRun{}, err
	}
	defer os.RemoveAll(dir)
	dev, err := client.Open(ctx, client.Options{Path: filepath.Join(dir, "device.db"), BatchSize: uploadBatch})
	if err != nil {
		return pushRun{}, err
	}
	defer dev.Close()
	if err := dev.Login(ctx, srv.URL, "device", devicePassword); err != nil {
		return pushRun{}, err
	}
	if _, err := dev.Sync(ctx, client.SyncOptions{SkipFiles: true}); err != nil {
		return pushRun{}, fmt.Errorf("initial sync: %w", err)
	}
	for i := range n {
		if _, err := dev.Create(ctx, "crm", "account", uploadFields(i)); err != nil {
			return pushRun{}, fmt.Errorf("create %d: %w", i, err)
		}
	}
	before, err := c.accounts(ctx)
	if err != nil {
		return pushRun{}, err
	}
	// The plugin is the bench process's one child by now beside the
	// emulator (the pulls' children are gone).
	plugins := slices.DeleteFunc(childPIDs(os.Getpid()), func(pid int) bool { return pid == c.pid() })
	start, cpu0, pcpu0, ecpu0, mcpu0 := time.Now(), cputime.Self(), childrenCPU(plugins), c.cpu(), machineCPU()
	rep, err := dev.Sync(ctx, client.SyncOptions{SkipFiles: true})
	if err != nil {
		return pushRun{}, fmt.Errorf("upload sync: %w", err)
	}
	upload := time.Since(start)
	if applyOnly {
		if profile {
			name := "p5-cpu.pprof"
			if instant != nil {
				name = "p5-hub-cpu.pprof"
			}
			stop := b.startProfile(name)
			defer stop()
		}
		// The push stage drains the source, as the job the upload queued
		// would, and returns once every mutation is recorded: the time
		// ends at the last commit, with nothing polling the hub meanwhile.
		start, cpu0, pcpu0, ecpu0, mcpu0 = time.Now(), cputime.Self(), childrenCPU(plugins), c.cpu(), machineCPU()
		pctx, cancel := context.WithTimeout(hctx, 10*time.Minute)
		res, err := h.Pusher().PushSource(pctx, "crm")
		cancel()
		if err != nil {
			return pushRun{}, fmt.Errorf("push: %w", err)
		}
		if res.Ops != n {
			return pushRun{}, fmt.Errorf("the push sent %d ops, want %d", res.Ops, n)
		}
	}
	if !applyOnly {
		// The hub's metrics say when every mutation is applied: polling
		// the store instead would count the mutations on the same cores
		// while they are written, and on PostgreSQL read every row of the
		// table each time.
		if err := waitApplied(ctx, h, st, n); err != nil {
			return pushRun{}, err
		}
	}
	run := pushRun{wall: time.Since(start), benchCPU: cputime.Self() - cpu0, pluginCPU: childrenCPU(plugins) - pcpu0,
		emulatorCPU: c.cpu() - ecpu0, machineCPU: machineCPU() - mcpu0}
	if counts, err := st.CountMutations(ctx, "crm"); err != nil || counts[store.MutationApplied] != int64(n) {
		return pushRun{}, fmt.Errorf("the hub's metrics say %d applied; the store has %v (%v)", n, counts, err)
	}
	if instant != nil {
		if got := int(instant.n.Load()); got != n {
			return pushRun{}, fmt.Errorf("the instant back end answered %d creates, want %d", got, n)
		}
		run.toFirst = time.Unix(0, instant.first.Load()).Sub(start)
		run.afterLast = start.Add(run.wall).Sub(time.Unix(0, instant.last.Load()))
		return run, nil
	}
	after, err := c.accounts(ctx)
	if err != nil {
		return pushRun{}, err
	}
	if got := after - before; got != n {
		return pushRun{}, fmt.Errorf("the emulator gained %d accounts, want %d", got, n)
	}
	if len(rep.Sources) > 0 && !applyOnly {
		b.logf("P5: the device's sync took %.1fs (%d upload calls, upload %.1fs); all applied after %.1fs",
			upload.Seconds(), rep.Sources[0].UploadCalls, rep.Sources[0].UploadTime.Seconds(), run.wall.Seconds())
	}
	return run, nil
}

// waitApplied polls the hub's metrics every 20 ms until n mutations of
// the bench's source are applied, for at most 10 minutes.
func waitApplied(ctx context.Context, h *hub.Hub, st *store.Store, n int) error {
	deadline := time.Now().Add(10 * time.Minute)
	for {
		applied, err := appliedMetric(h.Metrics(), "crm")
		if err != nil {
			return err
		}
		if applied >= int64(n) {
			return nil
		}
		if time.Now().After(deadline) {
			counts, _ := st.CountMutations(ctx, "crm")
			return fmt.Errorf("after 10 minutes only %v of %d mutations are done", counts, n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// pushRun is what one pushOnce measured: its wall time and the CPU the
// bench process (the hub; in the end-to-end run, the bench polling its metrics too), the plugin
// process, the emulator child and the whole machine (PostgreSQL's server
// among the rest) used meanwhile.
type pushRun struct {
	wall, benchCPU, pluginCPU, emulatorCPU, machineCPU time.Duration
	// toFirst and afterLast, in a hub-alone run, are the times from the
	// start to the first Upload and from the last Upload to the end.
	toFirst, afterLast time.Duration
}

// others is the CPU the rest of the machine used during the run: on
// PostgreSQL, mostly its server.
func (r pushRun) others() time.Duration {
	return max(r.machineCPU-r.benchCPU-r.pluginCPU-r.emulatorCPU, 0)
}

// applyCPU is the run's CPU as p5CPU's apply-run figures.
func (r pushRun) applyCPU() p5CPU {
	return p5CPU{wall: r.wall.Seconds(), bench: r.benchCPU.Seconds(), plugin: r.pluginCPU.Seconds(),
		emulator: r.emulatorCPU.Seconds(), others: r.others().Seconds()}
}

// rate is n records over the run's wall time, in records/s.
func (r pushRun) rate(n int) float64 { return float64(n) / r.wall.Seconds() }

// childrenCPU is the CPU the processes pids have used so far; a process
// gone counts nothing.
func childrenCPU(pids []int) time.Duration {
	var sum time.Duration
	for _, pid := range pids {
		if d, err := procCPU(pid); err == nil {
			sum += d
		}
	}
	return sum
}

// appliedMetric reads synchub_push_mutations_total{source, outcome="applied"}.
func appliedMetric(g prometheus.Gatherer, source string) (int64, error) {
	families, err := g.Gather()
	if err != nil {
		return 0, fmt.Errorf("gather metrics: %w", err)
	}
	for _, f := range families {
		if f.GetName() != "synchub_push_mutations_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var src, outcome string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "source":
					src = l.GetValue()
				case "outcome":
					outcome = l.GetValue()
				}
			}
			if src == source && outcome == "applied" {
				return int64(m.GetCounter().GetValue()), nil
			}
		}
	}
	return 0, nil
}

// p5CPU is the CPU, in seconds, that one P5 round's runs used for their n
// creates, measured from the processes' own accounting (/proc and
// getrusage), not from profiles.
type p5CPU struct {
	wall     float64 // the apply run's wall time
	bench    float64 // the bench process during the apply run: the hub
	plugin   float64 // the plugin process during the apply run
	emulator float64 // the emulator child during the apply run
	others   float64 // the rest of the machine during the apply run
	raw      float64 // the emulator child during the raw $batch loop
	alone    float64 // the bench process during the hub-alone run: the hub, its back end answering at once
}

func (c p5CPU) String() string {
	return fmt.Sprintf("apply run %s; emulator in the raw loop %.2f s; hub alone %.2f s", c.apply(), c.raw, c.alone)
}

// total is the CPU the stage's three processes used in the apply run.
func (c p5CPU) total() float64 { return c.bench + c.plugin + c.emulator }

// apply says what CPU the apply run used: the stage's processes', then
// the rest of the machine's (on PostgreSQL, mostly its server).
func (c p5CPU) apply() string {
	return fmt.Sprintf("%.2f s of CPU in %.2f s (hub %.2f s, plugin %.2f s, emulator %.2f s; the rest of the machine %.2f s)",
		c.total(), c.wall, c.bench, c.plugin, c.emulator, c.others)
}

// medianCPU is each figure's median over the rounds.
func medianCPU(cs []p5CPU) p5CPU {
	pick := func(f func(p5CPU) float64) float64 { return medianOf(cs, f) }
	return p5CPU{
		wall:     pick(func(c p5CPU) float64 { return c.wall }),
		bench:    pick(func(c p5CPU) float64 { return c.bench }),
		plugin:   pick(func(c p5CPU) float64 { return c.plugin }),
		emulator: pick(func(c p5CPU) float64 { return c.emulator }),
		others:   pick(func(c p5CPU) float64 { return c.others }),
		raw:      pick(func(c p5CPU) float64 { return c.raw }),
		alone:    pick(func(c p5CPU) float64 { return c.alone }),
	}
}

// note says, from the CPU the runs used, whether the cores could carry
// the apply stage at the target: at 0.5 × the raw rate the n creates have
// n / (0.5 × raw) seconds, and cores × that of CPU, which the hub, the
// plugin and the emulator share.
func (c p5CPU) note(cores, n int, raw float64) string {
	if c.wall <= 0 || raw <= 0 {
		return ""
	}
	total := c.total()
	window := float64(n) / (0.5 * raw)
	budget := float64(cores) * window
	s := fmt.Sprintf("Measured by the processes' own accounting (medians over the rounds), the apply run used %.2f s of CPU in %.2f s "+
		"of wall time: the hub %.2f s, the plugin %.2f s and the emulator %.2f s, keeping %.0f %% of the %d "+
		"cores busy. On their own, the emulator took %.2f s of CPU for the same creates (the raw loop) and the hub %.2f s (the "+
		"hub-alone run). At 0.5 × the raw rate the run would have %.2f s, that is %.2f s of CPU on %d cores; ",
		total, c.wall, c.bench, c.plugin, c.emulator, 100*total/(float64(cores)*c.wall), cores, c.raw, c.alone, window, budget, cores)
	if total > budget {
		s += fmt.Sprintf("the stage's processes use %.1f × that, so on this machine the target needs them all to use less CPU, "+
			"not only a shorter path through the hub. ", total/budget)
	} else {
		s += "the stage's processes use less than that, so the miss is in how their work overlaps, not in the cores. "
	}
	return s
}
