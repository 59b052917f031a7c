package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/synchub/synchub/internal/gcdefault"
)

// options are the command line.
type options struct {
	full       bool
	records    int
	runs       int
	only       map[string]bool
	postgres   string // "" when PostgreSQL is skipped
	pgSkip     string // why it is skipped
	out        string
	pluginDir  string
	profileDir string
	pageSize   int
	devices    int
	poll       time.Duration
	pollFor    time.Duration
	mutations  int
	growthBig  int
	pullLimit  time.Duration
	keep       bool
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == emuChildFlag {
		// The back end keeps Go's own collector default.
		os.Exit(runEmulatorChild(os.Args[2:]))
	}
	// The hub runs in this process (P3, P4, P5, P7) and in the pull child
	// (P1, P6) with the collector default the synchub binary sets.
	gcdefault.Apply()
	if len(os.Args) > 1 && os.Args[1] == childFlag {
		os.Exit(runPullChild(os.Args[2:]))
	}
	os.Exit(run())
}

func run() int {
	var o options
	var only, pg string
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.BoolVar(&o.full, "full", false, "large sizes: 1,000,000 records for P1/P6 (default 200,000)")
	fs.IntVar(&o.records, "records", 0, "records of the full pull (P1, P2, P3); default 200000, or 1000000 with --full")
	fs.IntVar(&o.runs, "runs", 3, "runs per figure; each figure is the median")
	fs.StringVar(&only, "only", "", "comma-separated benchmarks to run, e.g. P1,P4 (P2, P3 and P6 need P1's setup and run it too)")
	fs.StringVar(&pg, "postgres", "", "PostgreSQL DSN (default $SYNCHUB_TEST_POSTGRES, else the local postgres://postgres@127.0.0.1:5432/test); \"off\" skips PostgreSQL")
	fs.StringVar(&o.out, "out", "docs/BENCHMARKS.md", "report file")
	fs.StringVar(&o.pluginDir, "plugin-dir", "bin/plugins", "directory of the plugin binaries (make build)")
	fs.StringVar(&o.profileDir, "profile-dir", "docs/bench", "where P1's CPU and heap profiles are written")
	fs.IntVar(&o.pageSize, "page-size", 0, "entity page_size of the pulls (default: the config's default)")
	fs.IntVar(&o.devices, "devices", 1000, "P4: concurrent devices")
	fs.DurationVar(&o.poll, "poll-interval", time.Second, "P4: each device's pause between two polls")
	fs.DurationVar(&o.pollFor, "poll-for", 5*time.Second, "P4: measured time per run and scenario")
	fs.IntVar(&o.mutations, "mutations", 10000, "P5: device mutations pushed")
	fs.IntVar(&o.growthBig, "growth-records", 0, "P7: records mirrored in the large case (default: --records, 1,000,000 with --full; the small case has 10,000)")
	fs.DurationVar(&o.pullLimit, "pull-limit", 0, "a pull running longer is stopped and reported as timed out (its rate from the records it committed) (default 1m, 10m with --full)")
	fs.BoolVar(&o.keep, "keep", false, "keep the work directory")
	_ = fs.Parse(os.Args[1:])

	if o.records <= 0 {
		o.records = 200000
		if o.full {
			o.records = 1000000
		}
	}
	if o.pullLimit <= 0 {
		// A pull of --full's million records takes about a minute here.
		o.pullLimit = time.Minute
		if o.full {
			o.pullLimit = 10 * time.Minute
		}
	}
	if o.growthBig <= 0 {
		o.growthBig = o.records
	}
	o.runs = max(o.runs, 1)
	o.only = map[string]bool{}
	for id := range strings.SplitSeq(only, ",") {
		if id = strings.ToUpper(strings.TrimSpace(id)); id != "" {
			o.only[id] = true
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	o.postgres, o.pgSkip = pickPostgres(ctx, pg)
	var err error
	if o.pluginDir, err = filepath.Abs(o.pluginDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	work, err := os.MkdirTemp("", "synchub-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if !o.keep {
		defer os.RemoveAll(work)
	}
	b := &bench{o: o, work: work, m: describeMachine(), started: time.Now(), loadStart: loadAvg(),
		rev: gitDescribe(o.out, o.profileDir)}
	b.stealStart, b.iowaitStart, b.ticksStart = stealTicks()
	b.logf("work directory %s; %d records, %d runs; PostgreSQL: %s", work, o.records, o.runs, pgState(o))
	b.runAll(ctx)
	if err := b.writeReport(); err != nil {
		fmt.Fprintln(os.Stderr, "bench: write report:", err)
		return 1
	}
	b.logf("wrote %s in %s", o.out, time.Since(b.started).Round(time.Second))
	return 0
}

func pgState(o options) string {
	if o.postgres == "" {
		return "skipped (" + o.pgSkip + ")"
	}
	return "on"
}

// pickPostgres chooses the DSN: the flag, SYNCHUB_TEST_POSTGRES or the
// local default; an unreachable one is skipped, with the reason.
func pickPostgres(ctx context.Context, flagDSN string) (dsn, skip string) {
	switch {
	case flagDSN == "off":
		return "", "--postgres off"
	case flagDSN != "":
		dsn = flagDSN
	case os.Getenv("SYNCHUB_TEST_POSTGRES") != "":
		dsn = os.Getenv("SYNCHUB_TEST_POSTGRES")
	default:
		dsn = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	if err := pgReachable(ctx, dsn); err != nil {
		return "", "unreachable: " + err.Error()
	}
	return dsn, ""
}

// bench is one run of the benchmarks and what they found.
type bench struct {
	o       options
	work    string
	m       machine
	started time.Time
	// loadStart is the load average when the run began; stealStart,
	// iowaitStart and ticksStart the machine's ticks then (stealTicks).
	loadStart                           string
	stealStart, iowaitStart, ticksStart int64
	// rev is the commit measured, taken when the run began (the code was
	// compiled then; later edits to the tree are not measured).
	rev string

	rows    []row
	details []string
	// profiles lists the profiles written by this process.
	profiles []string
	// p1 keeps what later benchmarks compare with.
	p1 p1Outcome
	p2 p2Outcome
	// p5wall is the wall time of P5's profiled apply run, in seconds.
	p5wall float64
	// p5alone is P5's hub-alone rate over the raw $batch rate, p5book
	// the store's writes alone over it, p5raw the raw rate (records/s).
	p5alone, p5book, p5raw float64
	// p5phases are the hub-alone run's phases (medians), in seconds: from
	// the push's start to the first Upload, and from the last Upload to
	// the end.
	p5phases [2]float64
	// p5cpu is the CPU P5's runs used, each figure's median over rounds.
	p5cpu p5CPU
	// p5pgCPU is the same for the PostgreSQL apply runs (no raw loop or
	// hub-alone figures), p5pgRaw their raw loops' median rate.
	p5pgCPU p5CPU
	p5pgRaw float64
}

// row is one line of the results table.
type row struct {
	ID, What, Value, Target, Status string
}

// Statuses.
const (
	pass = "PASS"
	miss = "MISS"
)

func skipped(why string) string { return "skipped: " + why }

func verdict(ok bool) string {
	if ok {
		return pass
	}
	return miss
}

func (b *bench) want(id string) bool { return len(b.o.only) == 0 || b.o.only[id] }

func (b *bench) add(r row) { b.rows = append(b.rows, r) }

func (b *bench) detail(format string, args ...any) {
	b.details = append(b.details, fmt.Sprintf(format, args...))
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %6s  %s\n", time.Since(b.started).Round(time.Second), fmt.Sprintf(format, args...))
}

func (b *bench) runAll(ctx context.Context) {
	pullIDs := b.want("P1") || b.want("P2") || b.want("P3") || b.want("P6")
	if pullIDs {
		b.runPulls(ctx)
	}
	if b.want("P4") {
		b.runPoll(ctx)
	}
	if b.want("P5") {
		b.runUpload(ctx)
	}
	if b.want("P7") {
		b.runGrowth(ctx)
	}
}
