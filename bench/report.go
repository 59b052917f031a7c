package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/synchub/synchub/internal/gcdefault"
)

// writeReport writes docs/BENCHMARKS.md.
func (b *bench) writeReport() error {
	var w bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	m := b.m
	p("# Benchmarks\n\n")
	p("Written by `make bench` (`go run ./bench`; see the package comment in `bench/doc.go` for what each benchmark does and how). ")
	p("Do not edit by hand: run it again. Every figure is the median of %d runs; every ratio is taken between runs made side by side in the same invocation, ", b.o.runs)
	p("because the machine is shared and noisy.\n\n")

	p("## Machine\n\n")
	p("| | |\n|---|---|\n")
	p("| date | %s |\n", m.Date.Format("2006-01-02 15:04 MST"))
	p("| CPU | %d × %s |\n", m.CPUs, orDash(m.CPUModel))
	p("| memory | %.1f GiB |\n", float64(m.MemTotal)/(1<<30))
	p("| OS | %s, Linux %s |\n", m.OS, m.Kernel)
	p("| Go | %s; the hub and the plugins collect with %s |\n", m.GoVersion, gcdefault.Describe())
	p("| PostgreSQL | %s |\n", b.pgVersion())
	p("| commit | %s |\n", b.rev)
	p("| load average | %s at start, %s at the end (other processes share the machine) |\n", b.loadStart, loadAvg())
	if steal, iowait, total := stealTicks(); total > b.ticksStart {
		d := float64(total - b.ticksStart)
		p("| cores' time | %.1f %% stolen by other guests of the host, %.1f %% idle waiting for I/O, during the run (/proc/stat) |\n",
			100*float64(steal-b.stealStart)/d, 100*float64(iowait-b.iowaitStart)/d)
	}
	p("| command | `%s` (%s) |\n", b.cmdline(), time.Since(b.started).Round(time.Second))
	p("\n")

	p("## Results\n\n")
	p("| id | what | value | target | status |\n|---|---|---|---|---|\n")
	for _, r := range b.rows {
		p("| %s | %s | %s | %s | %s |\n", r.ID, cell(r.What), cell(r.Value), cell(r.Target), cell(r.Status))
	}
	p("\n")

	if b.p1.profiled {
		p("## Where the time goes (P1)\n\n")
		p("%s\n\n", b.whereTimeGoes())
	}

	if len(b.details) > 0 {
		p("## Per-run figures\n\n")
		for _, d := range b.details {
			p("- %s\n", d)
		}
		p("\n")
	}

	if notes := b.missNotes(); len(notes) > 0 {
		p("## Misses and notes\n\n")
		p("Read from the profiles of this run (`go tool pprof -top`), at the commit above.\n\n")
		for _, n := range notes {
			p("- %s\n", n)
		}
		p("\n")
	}

	if len(b.profiles) > 0 || b.p1.profiled || b.p1.pgProf != "" {
		p("## Profiles\n\n")
		if b.p1.profiled {
			p("- `%s`: CPU profile of the hub process during a SQLite pull of P1's size made after the measured runs, not counted (`go tool pprof -top %s`).\n", b.rel(b.p1.cpuProf), b.rel(b.p1.cpuProf))
			p("- `%s`: its allocation profile at the end of that pull (`-sample_index=alloc_space`; `inuse_space` shows the live heap).\n", b.rel(b.p1.heapProf))
		}
		if b.p1.pgProf != "" {
			p("- `%s`: CPU profile of the hub process during a PostgreSQL pull of P1's size made after the measured runs, not counted.\n", b.rel(b.p1.pgProf))
		}
		for _, f := range b.profiles {
			switch filepath.Base(f) {
			case "p5-plugin-cpu.pprof":
				p("- `%s`: CPU profile of the Dynamics CRM plugin process (`%s`) from its start to its stop around P5's profiled "+
					"apply-stage run (after the measured runs, not counted): the first pull, then the pushes.\n", b.rel(f), "SYNCHUB_PLUGIN_CPUPROFILE")
				continue
			case "p1-plugin-cpu.pprof":
				p("- `%s`: CPU profile of the Dynamics CRM plugin process (`%s`) during P1's profiled SQLite pull: its side of "+
					"the plugin boundary P2 measures.\n", b.rel(f), "SYNCHUB_PLUGIN_CPUPROFILE")
				continue
			}
			p("- `%s`: CPU profile of the bench process (hub and load) during %s.\n", b.rel(f), profileWhat(filepath.Base(f)))
		}
		p("\n")
	}
	if err := os.MkdirAll(filepath.Dir(b.o.out), 0o755); err != nil {
		return err
	}
	return os.WriteFile(b.o.out, w.Bytes(), 0o644)
}

func profileWhat(name string) string {
	switch name {
	case "p3-cpu.pprof":
		return "P3's first download (the hub and the device library run in it)"
	case "p4-cpu.pprof":
		return "P4's first SQLite run without new data"
	case "p5-cpu.pprof":
		return "P5's profiled apply-stage run, made after the measured runs and not counted (the hub's push worker; the emulator runs in a child process of its own)"
	case "p5-hub-cpu.pprof":
		return "P5's profiled hub-alone run, made after the measured runs and not counted (the hub's push worker with Upload answered at once)"
	}
	return name
}

func (b *bench) rel(path string) string {
	out, err := filepath.Abs(b.o.out)
	if err != nil {
		return path
	}
	root := filepath.Dir(filepath.Dir(out)) // docs/BENCHMARKS.md -> repository root
	if r, err := filepath.Rel(root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

func (b *bench) cmdline() string {
	args := append([]string{"bench"}, os.Args[1:]...)
	return strings.Join(args, " ")
}

func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// gitDescribe names HEAD, with "+ uncommitted changes" when tracked files
// differ from it, except what the run writes (its report and profiles)
// and the documentation under docs/ (another run's report among it),
// which nothing measured is built from.
func gitDescribe(out, profileDir string) string {
	res, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "—"
	}
	rev := strings.TrimSpace(string(res))
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return rev + " (working tree not checked)"
	}
	root := strings.TrimSpace(string(top))
	args := []string{"-C", root, "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)docs"}
	for _, p := range []string{out, profileDir} {
		// A path outside the repository needs no exclusion (git refuses
		// one).
		if abs, err := filepath.Abs(p); p != "" && err == nil {
			if rel, err := filepath.Rel(root, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
				args = append(args, ":(exclude)"+filepath.ToSlash(rel))
			}
		}
	}
	st, err := exec.Command("git", args...).Output()
	switch {
	case err != nil:
		rev += " (working tree not checked)"
	case len(bytes.TrimSpace(st)) > 0:
		rev += " + uncommitted changes"
	}
	return rev
}

func (b *bench) pgVersion() string {
	if b.o.postgres == "" {
		return "skipped: " + b.o.pgSkip
	}
	db, err := sql.Open("pgx", b.o.postgres)
	if err != nil {
		return "?"
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var v string
	if err := db.QueryRowContext(ctx, "SHOW server_version").Scan(&v); err != nil {
		return "?"
	}
	var autovac string
	_ = db.QueryRowContext(ctx, "SHOW autovacuum").Scan(&autovac)
	return fmt.Sprintf("%s (local, autovacuum %s)", v, orDash(autovac))
}

// profileTop reads `go tool pprof -top -cum` of a CPU profile: the total
// sampled seconds and each function's cumulative share.
func profileTop(path string) (total float64, cum map[string]float64, err error) {
	out, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=2000", path).Output()
	if err != nil {
		return 0, nil, err
	}
	cum = map[string]float64{}
	totalRe := regexp.MustCompile(`Total samples = ([0-9.]+)(m?s)`)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if m := totalRe.FindStringSubmatch(line); m != nil {
			total, _ = strconv.ParseFloat(m[1], 64)
			if m[2] == "ms" {
				total /= 1000
			}
			continue
		}
		f := strings.Fields(line)
		if len(f) < 6 || !strings.HasSuffix(f[4], "%") {
			continue
		}
		pct, err := strconv.ParseFloat(strings.TrimSuffix(f[4], "%"), 64)
		if err != nil {
			continue
		}
		name := strings.Join(f[5:], " ")
		name = strings.TrimSuffix(strings.TrimSuffix(name, " (inline)"), " (partial-inline)")
		if _, seen := cum[name]; !seen {
			cum[name] = pct
		}
	}
	return total, cum, sc.Err()
}

func share(cum map[string]float64, name string) float64 {
	for k, v := range cum {
		if k == name {
			return v
		}
	}
	return 0
}

// whereTimeGoes describes P1 from its CPU profile and the per-process CPU
// times.
func (b *bench) whereTimeGoes() string {
	x := b.p1.breakdown
	var s strings.Builder
	n := float64(b.o.records)
	us := func(sec float64) string { return fmt.Sprintf("%.0f µs", sec/n*1e6) }
	busy := (x.hub + x.plugin + x.emulator) / (x.seconds * float64(b.m.CPUs))
	fmt.Fprintf(&s, "A P1 run on SQLite takes %.1f s of wall time for %s records. Per record, the hub process spends %s of CPU, "+
		"the plugin process %s and the emulator (with the bench process) %s: together %.0f %% of what the %d cores could give over that wall time",
		x.seconds, thousands(int64(b.o.records)), us(x.hub), us(x.plugin), us(x.emulator), busy*100, b.m.CPUs)
	if busy > 0.8 {
		s.WriteString(", so the pull is CPU-bound and any CPU the hub saves goes straight to throughput. ")
	} else {
		s.WriteString(", so the stages wait on each other as much as they compute (the hub writes a page while it receives the next). ")
	}
	total, cum, err := profileTop(b.p1.cpuProf)
	if err != nil {
		fmt.Fprintf(&s, "(The profile could not be read: %v.)", err)
		return s.String()
	}
	if x.plugin > x.hub {
		fmt.Fprintf(&s, "The plugin process uses more CPU than the hub (%.1f s against %.1f s): it scans Dataverse's JSON pages "+
			"row by row and writes each record's JSON from the row's values (lookups into {entity, id}), while the hub "+
			"only checks each record's JSON and reads the few fields its partition rule and filter need. ", x.plugin, x.hub)
	}
	pb := share(cum, "github.com/synchub/synchub/sdk.recordFromPB")
	read := share(cum, "github.com/synchub/synchub/sdk.readPages")
	conv := share(cum, "github.com/synchub/synchub/host/pull.(*plan).convert")
	apply := share(cum, "github.com/synchub/synchub/host/store.(*Store).ApplyBatch")
	commit := share(cum, "gorm.io/gorm.(*DB).Commit")
	gc := share(cum, "runtime.gcBgMarkWorker")
	fmt.Fprintf(&s, "The hub's CPU profile (%.1f s sampled) splits as: %.0f %% receiving pages from the plugin (`sdk.readPages`, "+
		"the one-page read-ahead; %.0f %% of it checking each record's JSON in `sdk.recordFromPB`), %.0f %% in `pull.(*plan).convert` "+
		"(one gjson pass per record for the partition and filter fields; the JSON is stored as the plugin sent it), "+
		"%.0f %% writing the mirror (`store.ApplyBatch` on its own goroutine, one page behind: upserts of records and partition "+
		"items, one transaction per page, of which the commit %.0f %%) and %.0f %% background garbage collection; the rest is "+
		"gRPC, go-plugin and the runtime. ",
		total, read, pb, conv, apply, commit, gc)
	if apply > read+conv {
		s.WriteString("The database write is the hub's largest cost.")
	} else {
		s.WriteString("Receiving and reading records costs the hub more than writing them.")
	}
	fmt.Fprintf(&s, " Memory stays flat: the hub's VmHWM was %s after `hub.Open` and %s at the end of the pull (live Go heap peak %s).",
		mib(x.openHWM), mib(x.hubHWM), mib(int64(x.heapPeak)))
	return s.String()
}
