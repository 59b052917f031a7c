package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/metrics"
	"runtime/pprof"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/synchub/synchub/connectors/dynamicscrm"
	"github.com/synchub/synchub/host/hub"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/internal/cputime"
	"github.com/synchub/synchub/sdk"
)

// childFlag starts the bench binary as a pull child: the hub of one P1/P2
// run, in a process of its own, so that its peak RSS (P6) is the hub's
// alone (the emulator holding the back end's rows stays in the parent) and
// every run starts from a cold process.
const childFlag = "-pull-child"

// pullSpec is what a pull child does.
type pullSpec struct {
	DB        freshDB `json:"db"`
	InProcess bool    `json:"in_process"` // the connector through sdk.InProcess instead of the plugin
	Hub       crmHub  `json:"hub"`
	Expect    int     `json:"expect"`
	// Limit stops the pull after this long; the result then counts the
	// records committed so far and sets TimedOut.
	Limit       time.Duration `json:"limit,omitempty"`
	CPUProfile  string        `json:"cpu_profile,omitempty"`
	HeapProfile string        `json:"heap_profile,omitempty"`
	// PluginCPUProfile makes the plugin process write its CPU profile
	// there, from its start to its stop.
	PluginCPUProfile string `json:"plugin_cpu_profile,omitempty"`
	// MidRecords, when set, makes the child read its VmHWM as soon as the
	// pull has committed that many records (the source's seq, one per
	// record in a first full pull).
	MidRecords int `json:"mid_records,omitempty"`
}

// pullResult is what a pull child measured.
type pullResult struct {
	Records   int     `json:"records"`
	Pages     int     `json:"pages"`
	Seconds   float64 `json:"seconds"`
	HubCPU    float64 `json:"hub_cpu"`    // seconds of CPU the hub process used during the pull
	PluginCPU float64 `json:"plugin_cpu"` // seconds of CPU the plugin process used during the pull
	HubHWM    int64   `json:"hub_hwm"`    // VmHWM of the hub process after the pull, bytes
	OpenHWM   int64   `json:"open_hwm"`   // VmHWM after hub.Open, before the pull
	PluginHWM int64   `json:"plugin_hwm"` // VmHWM of the plugin process
	HeapPeak  uint64  `json:"heap_peak"`  // largest Go heap in use seen by a 50 ms sampler
	// MidHWM is VmHWM when the mirror first held MidRecords records
	// (0 when the pull did not get there).
	MidHWM   int64  `json:"mid_hwm"`
	TimedOut bool   `json:"timed_out,omitempty"`
	Error    string `json:"error,omitempty"`
}

// runPullChild is main for a pull child: spec from the file in args[0],
// result as JSON to the file in args[1].
func runPullChild(args []string) int {
	if len(args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: bench -pull-child SPEC RESULT")
		return 2
	}
	raw, err := os.ReadFile(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	var spec pullSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	res, err := pullChild(spec)
	if err != nil {
		res.Error = err.Error()
	}
	out, _ := json.Marshal(res)
	if err := os.WriteFile(args[1], out, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func pullChild(spec pullSpec) (pullResult, error) {
	var res pullResult
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	log := childLogger()
	st, err := store.Open(ctx, store.Options{Kind: spec.DB.Kind, Path: spec.DB.Path, DSN: spec.DB.DSN, Logger: log})
	if err != nil {
		return res, err
	}
	defer st.Close()
	cfg, err := spec.Hub.config()
	if err != nil {
		return res, err
	}
	opts := hub.Options{Config: cfg, Store: st, Logger: log}
	if spec.InProcess {
		opts.Clients = map[string]sdk.Client{"crm": sdk.InProcess(dynamicscrm.New(), nil)}
	} else if spec.PluginCPUProfile != "" {
		opts.PluginEnv = []string{sdk.CPUProfileEnv + "=" + spec.PluginCPUProfile}
	}
	h, err := hub.Open(ctx, opts)
	if err != nil {
		return res, err
	}
	defer h.Close()
	self := os.Getpid()
	plugin := 0
	if kids := childPIDs(self); len(kids) > 0 && !spec.InProcess {
		plugin = kids[0]
	}
	res.OpenHWM, _ = procHWM(self)

	if spec.CPUProfile != "" {
		f, err := os.Create(spec.CPUProfile)
		if err != nil {
			return res, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return res, err
		}
	}
	stopSampler := sampleHeap(&res.HeapPeak)
	stopMid := func() {}
	if spec.MidRecords > 0 {
		stopMid = watchSeq(ctx, st, int64(spec.MidRecords), func() { res.MidHWM, _ = procHWM(self) })
	}
	cpu0 := cputime.Self()
	var pcpu0 time.Duration
	if plugin != 0 {
		pcpu0, _ = procCPU(plugin)
	}
	pctx := ctx
	if spec.Limit > 0 {
		var cancel context.CancelFunc
		pctx, cancel = context.WithTimeout(ctx, spec.Limit)
		defer cancel()
	}
	start := time.Now()
	r, err := h.Puller().PullEntity(pctx, "crm", "account", true)
	elapsed := time.Since(start)
	if err != nil && spec.Limit > 0 && pctx.Err() != nil && ctx.Err() == nil {
		res.TimedOut, err = true, nil
	}
	res.HubCPU = (cputime.Self() - cpu0).Seconds()
	if plugin != 0 {
		if c, err := procCPU(plugin); err == nil {
			res.PluginCPU = (c - pcpu0).Seconds()
		}
		res.PluginHWM, _ = procHWM(plugin)
	}
	stopSampler()
	stopMid()
	if spec.CPUProfile != "" {
		pprof.StopCPUProfile()
	}
	res.Seconds = elapsed.Seconds()
	res.Records, res.Pages = r.Changed, r.Pages
	res.HubHWM, _ = procHWM(self)
	if err != nil {
		return res, err
	}
	if spec.HeapProfile != "" {
		f, err := os.Create(spec.HeapProfile)
		if err != nil {
			return res, err
		}
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		f.Close()
		if err != nil {
			return res, err
		}
	}
	if r.Changed != spec.Expect && !res.TimedOut {
		return res, fmt.Errorf("pull mirrored %d records, want %d", r.Changed, spec.Expect)
	}
	return res, nil
}

// childLogger logs to stderr at the level in SYNCHUB_BENCH_LOG (default:
// nothing).
func childLogger() hclog.Logger {
	level := os.Getenv("SYNCHUB_BENCH_LOG")
	if level == "" {
		return hclog.NewNullLogger()
	}
	return hclog.New(&hclog.LoggerOptions{Name: "hub", Level: hclog.LevelFromString(level), Output: os.Stderr})
}

// watchSeq calls fn once, as soon as the crm source's seq reaches at
// least n (polled every 50 ms), until the returned stop is called.
func watchSeq(ctx context.Context, st *store.Store, n int64, fn func()) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			if seq, err := st.SourceSeq(ctx, "crm"); err == nil && seq >= n {
				fn()
				return
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

// sampleHeap records the largest live-object heap seen until the returned stop
// is called.
func sampleHeap(peak *uint64) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		for {
			metrics.Read(sample)
			*peak = max(*peak, sample[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

// spawnPull runs one pull child and returns what it measured.
func spawnPull(ctx context.Context, workDir string, spec pullSpec) (pullResult, error) {
	exe, err := os.Executable()
	if err != nil {
		return pullResult{}, err
	}
	dir, err := os.MkdirTemp(workDir, "child-")
	if err != nil {
		return pullResult{}, err
	}
	defer os.RemoveAll(dir)
	specPath, resPath := filepath.Join(dir, "spec.json"), filepath.Join(dir, "result.json")
	raw, _ := json.Marshal(spec)
	if err := os.WriteFile(specPath, raw, 0o600); err != nil {
		return pullResult{}, err
	}
	cmd := exec.CommandContext(ctx, exe, childFlag, specPath, resPath)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return pullResult{}, fmt.Errorf("pull child: %w", err)
	}
	out, err := os.ReadFile(resPath)
	if err != nil {
		return pullResult{}, fmt.Errorf("pull child: %w", err)
	}
	var res pullResult
	if err := json.Unmarshal(out, &res); err != nil {
		return pullResult{}, fmt.Errorf("pull child: %w", err)
	}
	if res.Error != "" {
		return res, errors.New(res.Error)
	}
	return res, nil
}
