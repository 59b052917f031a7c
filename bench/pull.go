package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/synchub/synchub/connectors/dynamicscrm/emulator"
	"github.com/synchub/synchub/internal/cputime"
)

// p1Outcome is what P3 and the report take from the pull benchmarks.
type p1Outcome struct {
	ran       bool
	sqlite    float64 // P1 records/s on SQLite (median)
	mirror    freshDB // a SQLite mirror a P1 run left, for P3
	hub       crmHub  // its hub config
	profiled  bool
	pgProf    string // the hub's CPU profile during the first PostgreSQL run
	cpuProf   string
	heapProf  string
	breakdown pullBreakdown
}

// pullBreakdown is where the wall time of a P1 run went, as CPU seconds
// per process (medians over the SQLite runs).
type pullBreakdown struct {
	seconds, hub, plugin, emulator float64
	hubHWM, pluginHWM, openHWM     int64
	heapPeak                       uint64
}

// pullRound is one round's measurements.
type pullRound struct {
	p1     map[string]pullResult // by database kind
	ceilA  float64               // rec/s
	ceilB  map[string]float64    // rec/s by database kind
	inproc pullResult
	emuCPU map[string]float64
	// inprocEmuCPU is the bench process's CPU (the emulator) during the
	// in-process pull.
	inprocEmuCPU float64
	oopRatio     float64
	// samples are the rows of ceiling (a)'s first page, which ceiling (b)
	// writes.
	samples []sampleRow
}

// cpuRatio is the CPU the out-of-process pull took (hub, plugin and
// emulator) over the in-process pull's (hub with the connector inside,
// and emulator).
func (r pullRound) cpuRatio() float64 {
	oop := r.p1[dbSQLite].HubCPU + r.p1[dbSQLite].PluginCPU + r.emuCPU[dbSQLite]
	return oop / max(r.inproc.HubCPU+r.inprocEmuCPU, 1e-9)
}

func (b *bench) pluginMissing() string {
	p := filepath.Join(b.o.pluginDir, "dynamicscrm")
	if _, err := os.Stat(p); err != nil {
		return "connector missing (no " + p + "; run make build)"
	}
	return ""
}

func (b *bench) dbKinds() []string {
	kinds := []string{dbSQLite}
	if b.o.postgres != "" {
		kinds = append(kinds, dbPostgres)
	}
	return kinds
}

func (b *bench) hubFor(c *crm) crmHub {
	return crmHub{PluginDir: b.o.pluginDir, DataDir: b.work, URL: c.base, TokenURL: c.tokenURL(),
		PageSize: b.o.pageSize, Partition: "*", Users: []hubUser{{Name: "device"}}}
}

// runPulls runs P1 (with its two ceilings), P2, P6 and then P3, which
// needs a mirror P1 filled.
func (b *bench) runPulls(ctx context.Context) {
	if why := b.pluginMissing(); why != "" {
		for _, id := range []string{"P1", "P2", "P3", "P6"} {
			if b.want(id) {
				b.add(row{ID: id, What: whatOf[id], Value: "—", Target: targetOf[id], Status: skipped(why)})
			}
		}
		return
	}
	n := b.o.records
	b.logf("P1: seeding the emulator with %d accounts", n)
	c, err := startCRM(n, emulator.Options{})
	if err != nil {
		b.fail("P1", err)
		return
	}
	defer c.close()
	// The seeding's garbage is collected now, not during the first pull.
	runtime.GC()
	h := b.hubFor(c)
	// Only the config is kept: the emulator and its records are released
	// when the pulls end, so that the benchmarks after them (P4's hub in
	// this process above all) do not share the garbage collector with
	// them.
	b.p1.hub = h

	// SQLite's rounds come first, PostgreSQL's after them, as in P5: the
	// server's work after a pull (checkpoints) would otherwise fall into
	// the next round's SQLite runs. Within a round, runs whose ratio is
	// taken follow one another: P2's in-process pull, the out-of-process
	// pull (P1), ceiling (a), ceiling (b).
	rounds := make([]pullRound, b.o.runs)
	for r := range rounds {
		rounds[r] = pullRound{p1: map[string]pullResult{}, ceilB: map[string]float64{}, emuCPU: map[string]float64{}}
	}
	cut := map[string]bool{} // databases whose pull hit --pull-limit: not run again
	for _, kind := range b.dbKinds() {
		for r := range rounds {
			pr := &rounds[r]
			if (cut[kind] || !b.want("P1")) && kind != dbSQLite {
				continue
			}
			if kind == dbSQLite && b.want("P2") {
				res, emu, _, err := b.pullOnce(ctx, c, h, dbSQLite, true, n, false, "", "")
				if err != nil {
					b.fail("P2", fmt.Errorf("run %d: %w", r+1, err))
					return
				}
				pr.inproc, pr.inprocEmuCPU = res, emu
			}
			res, emuCPU, kept, err := b.pullOnce(ctx, c, h, kind, false, n, r == b.o.runs-1 && kind == dbSQLite, "", "")
			if err != nil {
				b.fail("P1", fmt.Errorf("%s run %d: %w", label(kind), r+1, err))
				return
			}
			if kept.Kind != "" {
				b.p1.mirror = kept
			}
			if res.TimedOut {
				cut[kind] = true
				b.logf("P1 %s run %d: stopped at --pull-limit %s after %d records", label(kind), r+1, b.o.pullLimit, res.Records)
			}
			pr.p1[kind], pr.emuCPU[kind] = res, emuCPU
			b.logf("P1 %s run %d: %s in %.1fs (hub CPU %.1fs, plugin CPU %.1fs, emulator CPU %.1fs, hub VmHWM %s)",
				label(kind), r+1, rate(float64(res.Records)/res.Seconds), res.Seconds, res.HubCPU, res.PluginCPU, emuCPU, mib(res.HubHWM))
			if kind == dbSQLite && b.want("P2") {
				pr.oopRatio = res.Seconds / pr.inproc.Seconds
				b.logf("P2 run %d: in-process %s in %.1fs (hub CPU %.1fs, emulator CPU %.1fs), just before; out-of-process/in-process %.3f, CPU %.3f",
					r+1, rate(float64(pr.inproc.Records)/pr.inproc.Seconds), pr.inproc.Seconds, pr.inproc.HubCPU, pr.inprocEmuCPU, pr.oopRatio, pr.cpuRatio())
			}
			if !b.want("P1") {
				continue // the ceilings only serve P1's ratio
			}
			if kind == dbSQLite {
				rows, d, s, err := fetchCeiling(ctx, c)
				if err != nil {
					b.fail("P1", fmt.Errorf("ceiling (a): %w", err))
					return
				}
				if rows != n {
					b.fail("P1", fmt.Errorf("ceiling (a) read %d rows, want %d", rows, n))
					return
				}
				pr.samples = s
				pr.ceilA = float64(rows) / d.Seconds()
				b.logf("ceiling (a) run %d: %s", r+1, rate(pr.ceilA))
			}
			if cut[kind] && r > 0 {
				continue // the ratio of the one run made is the figure
			}
			f, err := newDB(ctx, kind, b.work, b.o.postgres)
			if err != nil {
				b.fail("P1", err)
				return
			}
			d, err := insertCeiling(ctx, f, pr.samples, n, b.pageSizeOrDefault())
			f.Drop()
			if err != nil {
				b.fail("P1", fmt.Errorf("ceiling (b) %s: %w", label(kind), err))
				return
			}
			pr.ceilB[kind] = float64(n) / d.Seconds()
			b.logf("ceiling (b) %s run %d: %s", label(kind), r+1, rate(pr.ceilB[kind]))
		}
	}
	if b.want("P1") {
		b.profilePulls(ctx, c, h, cut)
	}
	b.summarizeP1(rounds)
	if b.want("P2") {
		b.reportP2(rounds)
	}
	if b.want("P6") {
		b.runP6(ctx, rounds)
	}
	if b.want("P3") {
		b.runDevice(ctx)
	}
	if b.p1.mirror.Kind != "" {
		b.p1.mirror.Drop()
	}
}

// profilePulls makes one more pull per database, profiled, after the
// measured rounds: a profiler costs the process it samples some of its
// time, and a profiled pull among the measured ones would weigh on P1's
// rates and on P2's out-of-process side against an in-process pull that is
// not profiled. Its figures are not counted.
func (b *bench) profilePulls(ctx context.Context, c *crm, h crmHub, cut map[string]bool) {
	for _, kind := range b.dbKinds() {
		if cut[kind] {
			continue
		}
		cpuProf, heapProf := b.profileFiles(kind)
		if cpuProf == "" {
			continue
		}
		if _, _, _, err := b.pullOnce(ctx, c, h, kind, false, b.o.records, false, cpuProf, heapProf); err != nil {
			b.logf("P1 %s profiled pull: %v", label(kind), err)
			continue
		}
		b.logf("P1 %s: profiled pull done (not counted)", label(kind))
		if kind == dbSQLite {
			b.p1.profiled, b.p1.cpuProf, b.p1.heapProf = true, cpuProf, heapProf
		} else {
			b.p1.pgProf = cpuProf
		}
	}
}

func (b *bench) pageSizeOrDefault() int {
	if b.o.pageSize > 0 {
		return b.o.pageSize
	}
	return 1000 // the config's default entity page_size
}

// pullOnce runs one full pull of n records in a child process on a fresh
// database of kind; keep leaves the database for later use (returned).
// It also returns the CPU seconds this process (the emulator) used
// meanwhile.
func (b *bench) pullOnce(ctx context.Context, c *crm, h crmHub, kind string, inProcess bool, n int, keep bool,
	cpuProf, heapProf string) (pullResult, float64, freshDB, error) {
	f, err := newDB(ctx, kind, b.work, b.o.postgres)
	if err != nil {
		return pullResult{}, 0, freshDB{}, err
	}
	spec := pullSpec{DB: f, InProcess: inProcess, Hub: h, Expect: n, CPUProfile: cpuProf, HeapProfile: heapProf, Limit: b.o.pullLimit}
	if cpuProf != "" && kind == dbSQLite && !inProcess {
		if path, err := b.profileFile("p1-plugin-cpu.pprof"); err == nil {
			spec.PluginCPUProfile = path
		} else {
			b.logf("profile p1-plugin-cpu.pprof: %v", err)
		}
	}
	if kind == dbSQLite && !inProcess && n > p6Ref {
		spec.MidRecords = p6Ref
	}
	cpu0 := cputime.Self()
	res, err := spawnPull(ctx, b.work, spec)
	emuCPU := (cputime.Self() - cpu0).Seconds()
	if err != nil || !keep {
		f.Drop()
		return res, emuCPU, freshDB{}, err
	}
	return res, emuCPU, f, nil
}

func (b *bench) fail(id string, err error) {
	b.logf("%s failed: %v", id, err)
	b.add(row{ID: id, What: whatOf[id], Value: "—", Target: targetOf[id], Status: "ERROR: " + err.Error()})
}

// summarizeP1 keeps P1's medians for the others and, when P1 was asked
// for, adds its rows: per database, the median rate and the median of the
// per-round ratios to the slower ceiling.
func (b *bench) summarizeP1(rounds []pullRound) {
	n := b.o.records
	var bd []pullBreakdown
	for _, r := range rounds {
		res := r.p1[dbSQLite]
		bd = append(bd, pullBreakdown{seconds: res.Seconds, hub: res.HubCPU, plugin: res.PluginCPU, emulator: r.emuCPU[dbSQLite],
			hubHWM: res.HubHWM, pluginHWM: res.PluginHWM, openHWM: res.OpenHWM, heapPeak: res.HeapPeak})
	}
	b.p1.breakdown = medianBreakdown(bd)
	var ceilA []float64
	for _, r := range rounds {
		ceilA = append(ceilA, r.ceilA)
	}
	for _, kind := range b.dbKinds() {
		if !b.want("P1") && kind != dbSQLite {
			continue
		}
		var rates, ceilB, ratios []float64
		timedOut := ""
		for _, r := range rounds {
			res, ok := r.p1[kind]
			if !ok {
				continue
			}
			p := float64(res.Records) / res.Seconds
			rates = append(rates, p)
			ceilB = append(ceilB, r.ceilB[kind])
			ratios = append(ratios, p/min(r.ceilA, r.ceilB[kind]))
			if res.TimedOut {
				timedOut = fmt.Sprintf("; **stopped at --pull-limit %s after %s of %s records** (%d run)",
					b.o.pullLimit, thousands(int64(res.Records)), thousands(int64(n)), len(rates))
			}
		}
		med, ratio := median(rates), median(ratios)
		if kind == dbSQLite {
			b.p1.sqlite = med
			b.p1.ran = true
		}
		slower := "a"
		if median(ceilB) < median(ceilA) {
			slower = "b"
		}
		if b.want("P1") {
			b.add(row{ID: "P1", What: fmt.Sprintf("full pull, %s records, plugin process → %s", thousands(int64(n)), label(kind)),
				Value: fmt.Sprintf("%s = **%.2f ×** slower ceiling (%s); ceilings: (a) fetch+decode %s, (b) %s insert %s%s",
					rate(med), ratio, slower, rate(median(ceilA)), label(kind), rate(median(ceilB)), timedOut),
				Target: "≥ 0.50 × slower ceiling", Status: verdict(ratio >= 0.5)})
			b.detail("**P1 %s** per run: pull %s; ceiling (a) %s; ceiling (b) %s; ratio %s.", label(kind),
				list(rates, rate), list(ceilA, rate), list(ceilB, rate), list(ratios, func(x float64) string { return fmt.Sprintf("%.2f", x) }))
		}
	}
	if b.want("P1") {
		x := b.p1.breakdown
		b.detail("**P1 SQLite, CPU per process** (medians; wall %.1f s on %d cores): hub %.1f s, plugin %.1f s, emulator + bench process %.1f s; "+
			"hub VmHWM %s (after hub.Open %s), plugin VmHWM %s, hub live heap peak %s.",
			x.seconds, b.m.CPUs, x.hub, x.plugin, x.emulator, mib(x.hubHWM), mib(x.openHWM), mib(x.pluginHWM), mib(int64(x.heapPeak)))
	}
}

func medianBreakdown(bd []pullBreakdown) pullBreakdown {
	pick := func(f func(pullBreakdown) float64) float64 { return medianOf(bd, f) }
	return pullBreakdown{
		seconds:   pick(func(x pullBreakdown) float64 { return x.seconds }),
		hub:       pick(func(x pullBreakdown) float64 { return x.hub }),
		plugin:    pick(func(x pullBreakdown) float64 { return x.plugin }),
		emulator:  pick(func(x pullBreakdown) float64 { return x.emulator }),
		hubHWM:    int64(pick(func(x pullBreakdown) float64 { return float64(x.hubHWM) })),
		pluginHWM: int64(pick(func(x pullBreakdown) float64 { return float64(x.pluginHWM) })),
		openHWM:   int64(pick(func(x pullBreakdown) float64 { return float64(x.openHWM) })),
		heapPeak:  uint64(pick(func(x pullBreakdown) float64 { return float64(x.heapPeak) })),
	}
}

func (b *bench) reportP2(rounds []pullRound) {
	var ratios, oop, inp, cpu []float64
	for _, r := range rounds {
		ratios = append(ratios, r.oopRatio)
		oop = append(oop, r.p1[dbSQLite].Seconds)
		inp = append(inp, r.inproc.Seconds)
		cpu = append(cpu, r.cpuRatio())
	}
	b.p2 = p2Outcome{ratios: ratios, cpu: median(cpu)}
	ratio := median(ratios)
	secs := func(x float64) string { return fmt.Sprintf("%.1f s", x) }
	b.add(row{ID: "P2", What: "plugin boundary: the P1 pull (SQLite) through the in-process adapter",
		Value:  fmt.Sprintf("out-of-process %s / in-process %s = **%.3f**", secs(median(oop)), secs(median(inp)), ratio),
		Target: "≤ 1.10", Status: verdict(ratio <= 1.10)})
	three := func(x float64) string { return fmt.Sprintf("%.3f", x) }
	b.detail("**P2** per run: out-of-process %s; in-process %s; ratio %s. The CPU each pull took, the hub's, the plugin's and "+
		"the emulator's together, out-of-process over in-process: %s.", list(oop, secs), list(inp, secs), list(ratios, three),
		list(cpu, three))
}

// p2Outcome is what P2's note reads.
type p2Outcome struct {
	ratios []float64 // per-run wall-time ratios
	cpu    float64   // the median per-run CPU ratio
}

// profileFiles names the CPU and heap profiles of P1's first run on kind:
// p1-cpu.pprof and p1-heap.pprof on SQLite, p1-pg-cpu.pprof (no heap
// profile) on PostgreSQL.
func (b *bench) profileFiles(kind string) (cpu, heap string) {
	dir, err := filepath.Abs(b.o.profileDir)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		b.logf("profile: %v", err)
		return "", ""
	}
	if kind != dbSQLite {
		return filepath.Join(dir, "p1-pg-cpu.pprof"), ""
	}
	return filepath.Join(dir, "p1-cpu.pprof"), filepath.Join(dir, "p1-heap.pprof")
}

// p6Ref is P6's reference size.
const p6Ref = 100000

// runP6 reads the hub's peak RSS. The P1 SQLite runs give it at the P1
// size and, read by the child when its mirror first held 100,000 records,
// at 100,000 within the same pull; with --full, separate 100,000-record
// pulls give the reference instead.
func (b *bench) runP6(ctx context.Context, rounds []pullRound) {
	var big, small []float64
	for _, r := range rounds {
		res := r.p1[dbSQLite]
		big = append(big, float64(res.HubHWM))
		if res.MidHWM > 0 {
			small = append(small, float64(res.MidHWM))
		}
	}
	how := "read in the same pulls when the mirror first held 100,000 records"
	ref, refWhat := "100k", "100,000"
	switch {
	case b.o.records <= p6Ref:
		// The reference is the P1 size itself: no smaller pull to compare.
		small, how = big, "the P1 pulls themselves"
		ref, refWhat = thousands(int64(b.o.records)), thousands(int64(b.o.records))
	case b.o.full || len(small) < len(rounds):
		how = "separate 100,000-record pulls"
		b.logf("P6: seeding an emulator with %d accounts", p6Ref)
		c, err := startCRM(p6Ref, emulator.Options{})
		if err != nil {
			b.fail("P6", err)
			return
		}
		defer c.close()
		h := b.hubFor(c)
		small = nil
		for r := range b.o.runs {
			res, _, _, err := b.pullOnce(ctx, c, h, dbSQLite, false, p6Ref, false, "", "")
			if err != nil {
				b.fail("P6", fmt.Errorf("run %d: %w", r+1, err))
				return
			}
			b.logf("P6 100k run %d: hub VmHWM %s in %.1fs", r+1, mib(res.HubHWM), res.Seconds)
			small = append(small, float64(res.HubHWM))
		}
	}
	s, l := median(small), median(big)
	growth := l / s
	mb := func(x float64) string { return fmt.Sprintf("%.0f MB", x/1e6) }
	ok := l <= 200e6 && s <= 200e6 && growth <= 1.5
	note := ""
	if b.o.records < 1000000 {
		note = " (1,000,000 with --full)"
	}
	b.add(row{ID: "P6", What: fmt.Sprintf("hub peak RSS (VmHWM of the hub process) during P1 on SQLite, at %s vs %s records%s", refWhat, thousands(int64(b.o.records)), note),
		Value:  fmt.Sprintf("%s: %s; %s: %s; growth **%.2f ×**", ref, mb(s), thousands(int64(b.o.records)), mb(l), growth),
		Target: fmt.Sprintf("≤ 200 MB and ≤ 1.5 × the %s figure", ref), Status: verdict(ok)})
	b.detail("**P6** per run (hub VmHWM): %s %s (%s); %s %s. The emulator lives in the bench process and the plugin in its own, so neither is counted.",
		ref, list(small, mb), how, thousands(int64(b.o.records)), list(big, mb))
}

// profileFile returns the path of a profile in the profile directory, and
// lists it with the run's profiles (another process may write it).
func (b *bench) profileFile(name string) (string, error) {
	dir, err := filepath.Abs(b.o.profileDir)
	if err == nil {
		err = os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	b.profiles = append(b.profiles, path)
	return path, nil
}

// startProfile starts this process's CPU profile into the profile
// directory; the returned func stops it.
func (b *bench) startProfile(name string) (stop func()) {
	path, err := b.profileFile(name)
	if err != nil {
		b.logf("profile %s: %v", name, err)
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		if err = pprof.StartCPUProfile(f); err != nil {
			f.Close()
		}
	}
	if err != nil {
		b.profiles = b.profiles[:len(b.profiles)-1] // not written
		b.logf("profile %s: %v", name, err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

var whatOf = map[string]string{
	"P1": "full pull throughput",
	"P2": "plugin boundary",
	"P3": "device initial download",
	"P4": "incremental poll under load",
	"P5": "upload apply",
	"P6": "hub peak RSS during P1",
	"P7": "cost growth",
}

var targetOf = map[string]string{
	"P1": "≥ 0.50 × slower ceiling",
	"P2": "≤ 1.10",
	"P3": "records/s, ratio to P1",
	"P4": "p95 < 50 ms",
	"P5": "≥ 0.50 × raw $batch ingest",
	"P6": "≤ 200 MB and ≤ 1.5 × the 100k figure",
	"P7": "≤ 2 ×",
}

var _ = time.Second
