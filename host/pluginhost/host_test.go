package pluginhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/sdktest/chaosconn"
)

// startHost starts a Host on the chaos plugin with config cfg and small
// timeouts; opt adjusts the options first.
func startHost(t *testing.T, cfg string, opt func(*Options)) (*Host, *syncBuffer) {
	t.Helper()
	log, buf := testLogger(t)
	o := Options{Source: "crm", Binary: chaosBin, Config: json.RawMessage(cfg), CallTimeout: 10 * time.Second,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, HealthInterval: time.Second, Logger: log}
	if opt != nil {
		opt(&o)
	}
	h := New(o)
	t.Cleanup(h.Stop)
	if err := h.Start(testCtx(t)); err != nil {
		t.Fatalf("Start: %v", err)
	}
	return h, buf
}

// fetch runs a Fetch and returns the ids and the last cursor received.
func fetch(ctx context.Context, c sdk.Client, entity, cursor string) (ids []string, last string, err error) {
	last = cursor
	err = c.Fetch(ctx, sdk.FetchRequest{Entity: entity, Cursor: cursor, PageSize: 100}, func(pg sdk.Page) error {
		for _, r := range pg.Records {
			ids = append(ids, r.ID)
		}
		last = pg.Cursor
		return nil
	})
	return ids, last, err
}

func wantIDs(n int) []string {
	var ids []string
	for i := 1; i <= n; i++ {
		ids = append(ids, chaosconn.RecordID(i))
	}
	return ids
}

func wantCode(t *testing.T, err error, code sdk.ErrorCode) *sdk.Error {
	t.Helper()
	var e *sdk.Error
	if !errors.As(err, &e) || e.Code != code {
		t.Fatalf("error %v (%T) has code %s, want %s", err, err, sdk.CodeOf(err), code)
	}
	return e
}

func TestHost(t *testing.T) {
	t.Parallel()

	t.Run("fetches_through_a_running_plugin", func(t *testing.T) {
		t.Parallel()
		h, _ := startHost(t, `{"pages": 3}`, nil)
		ids, last, err := fetch(testCtx(t), h.Client(), "account", "")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ids, wantIDs(6)) || last != "3" {
			t.Errorf("got %v up to cursor %q, want %v up to 3", ids, last, wantIDs(6))
		}
		s := h.State()
		if s.Phase != Running || s.PID == 0 || s.Restarts != 0 {
			t.Errorf("state %+v, want running with a pid and no restarts", s)
		}
		if err := h.Restart(testCtx(t)); err != nil {
			t.Fatalf("Restart: %v", err)
		}
		if s2 := h.State(); s2.Phase != Running || s2.PID == s.PID {
			t.Errorf("state after Restart %+v, want a new process (old pid %d)", s2, s.PID)
		}
		if running(s.PID) {
			t.Errorf("old plugin %d still runs after Restart", s.PID)
		}
		if _, _, err := fetch(testCtx(t), h.Client(), "account", ""); err != nil {
			t.Fatalf("fetch after Restart: %v", err)
		}
	})

	t.Run("start_returns_the_connectors_configure_error_as_is", func(t *testing.T) {
		t.Parallel()
		log, _ := testLogger(t)
		h := New(Options{Source: "crm", Binary: chaosBin, Config: json.RawMessage(`{"mode": "sideways"}`), Logger: log})
		t.Cleanup(h.Stop)
		err := h.Start(testCtx(t))
		e := wantCode(t, err, sdk.CodeInvalidConfig)
		if e.Field != "mode" || e.Detail != "sideways" {
			t.Errorf("error %+v lost the connector's diagnostic", e)
		}
		if s := h.State(); s.Phase != Failed || s.LastError == nil {
			t.Errorf("state %+v, want failed with the error", s)
		}
		_, err = h.Client().Check(testCtx(t))
		mustContain(t, err, "plugin crm FAILED after 0 restarts", "unknown chaos mode", "POST /v1/admin/sources/crm/restart")
	})

	t.Run("a_panic_is_a_clear_error_and_the_plugin_survives", func(t *testing.T) {
		t.Parallel()
		h, _ := startHost(t, `{}`, nil)
		pid := h.State().PID
		_, _, err := fetch(testCtx(t), h.Client(), chaosconn.ModePanic, "")
		mustContain(t, err, "connector panicked in Fetch")
		if _, err := h.Client().Check(testCtx(t)); err != nil {
			t.Fatalf("Check after the panic: %v", err)
		}
		if s := h.State(); s.PID != pid || s.Restarts != 0 || s.Phase != Running {
			t.Errorf("state %+v, want the same process (pid %d) running", s, pid)
		}
	})

	t.Run("bad_answers_are_refused_naming_the_entity", func(t *testing.T) {
		t.Parallel()
		h, _ := startHost(t, `{}`, nil)
		_, _, err := fetch(testCtx(t), h.Client(), chaosconn.ModeGarbage, "")
		e := wantCode(t, err, sdk.CodeBadResponse)
		if e.Entity != chaosconn.ModeGarbage {
			t.Errorf("error %v names entity %q", err, e.Entity)
		}
		mustContain(t, err, "record without an id", "entity garbage")

		_, _, err = fetch(testCtx(t), h.Client(), chaosconn.ModeGarbageJSON, "")
		wantCode(t, err, sdk.CodeBadResponse)
		mustContain(t, err, "garbage_json", "record g1 has malformed fields JSON")

		_, _, err = fetch(testCtx(t), h.Client(), chaosconn.ModeOversized, "")
		wantCode(t, err, sdk.CodeBadResponse)
		mustContain(t, err, "record big is", "over the", "entity oversized")

		_, _, err = fetch(testCtx(t), h.Client(), chaosconn.ModeThrottle, "")
		if e := wantCode(t, err, sdk.CodeThrottled); e.RetryAfter != time.Second {
			t.Errorf("RetryAfter %s, want 1s", e.RetryAfter)
		}
		err = h.Client().Deletions(testCtx(t), sdk.DeletionsRequest{Entity: "account"}, func(sdk.DeletionPage) error { return nil })
		wantCode(t, err, sdk.CodeUnsupported)

		if s := h.State(); s.Restarts != 0 {
			t.Errorf("state %+v: bad answers must not restart the plugin", s)
		}
	})

	t.Run("a_crash_mid_fetch_restarts_the_plugin_and_the_fetch_resumes_without_gap_or_duplicate", func(t *testing.T) {
		t.Parallel()
		marker := filepath.Join(t.TempDir(), "crashed")
		h, _ := startHost(t, fmt.Sprintf(`{"pages": 5, "after": 2, "crash_once_file": %q}`, marker), nil)
		pid := h.State().PID
		ctx := testCtx(t)
		ids, last, err := fetch(ctx, h.Client(), chaosconn.ModeCrashMidStream, "")
		wantCode(t, err, sdk.CodeUnavailable)
		if _, err := os.Stat(marker); err != nil {
			t.Fatalf("the plugin did not crash: %v", err)
		}
		// The retry waits for the restart.
		more, last2, err := fetch(ctx, h.Client(), chaosconn.ModeCrashMidStream, last)
		if err != nil {
			t.Fatalf("resumed fetch from cursor %q: %v", last, err)
		}
		if got := append(ids, more...); !reflect.DeepEqual(got, wantIDs(10)) || last2 != "5" {
			t.Errorf("got %v (cursor %q), want %v (cursor 5)", got, last2, wantIDs(10))
		}
		if s := h.State(); s.Phase != Running || s.Restarts != 1 || s.PID == pid {
			t.Errorf("state %+v, want running again in a new process (old pid %d), 1 restart", s, pid)
		}
		if running(pid) {
			t.Errorf("crashed plugin %d still runs", pid)
		}
	})

	t.Run("a_hung_call_is_killed_at_its_deadline_and_the_next_call_works", func(t *testing.T) {
		t.Parallel()
		h, _ := startHost(t, `{"pages": 2}`, func(o *Options) { o.CallTimeout = 500 * time.Millisecond })
		ctx := testCtx(t)
		pid := h.State().PID
		ids, _, err := fetch(ctx, h.Client(), chaosconn.ModeHang, "")
		wantCode(t, err, sdk.CodeUnavailable)
		mustContain(t, err, "plugin crm did not answer Fetch within 500ms; it was restarted")
		if !reflect.DeepEqual(ids, wantIDs(2)) {
			t.Errorf("pages before the hang: %v", ids)
		}
		if running(pid) {
			t.Errorf("hung plugin %d still runs", pid)
		}
		if _, _, err := fetch(ctx, h.Client(), "account", ""); err != nil {
			t.Fatalf("fetch after the restart: %v", err)
		}

		_, err = h.Client().Upload(ctx, sdk.UploadRequest{Ops: []sdk.Op{{MutationID: "m1", Entity: chaosconn.ModeHang, Kind: sdk.OpCreate, ID: "x"}}})
		mustContain(t, err, "plugin crm did not answer Upload within 500ms; it was restarted")
		if s := h.State(); s.Restarts < 1 {
			t.Errorf("state %+v, want restarts", s)
		}
		waitFor(t, 5*time.Second, "the second restart", func() bool { s := h.State(); return s.Phase == Running && s.Restarts == 2 })

		// A consumer slower than the timeout is not a hung plugin.
		err = h.Client().Fetch(ctx, sdk.FetchRequest{Entity: "account"}, func(sdk.Page) error {
			time.Sleep(700 * time.Millisecond) // simulated work, not synchronisation
			return nil
		})
		if err != nil {
			t.Fatalf("slow consumer: %v", err)
		}
		if s := h.State(); s.Restarts != 2 {
			t.Errorf("state %+v: a slow consumer restarted the plugin", s)
		}
	})

	t.Run("a_crash_loop_ends_in_failed_and_restart_recovers", func(t *testing.T) {
		t.Parallel()
		exitFile := filepath.Join(t.TempDir(), "exit")
		var m testMetrics
		h, _ := startHost(t, fmt.Sprintf(`{"exit_on_configure_file": %q}`, exitFile), func(o *Options) {
			o.MaxRestarts = 3
			o.Metrics = m.metrics()
		})
		if err := os.WriteFile(exitFile, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := fetch(testCtx(t), h.Client(), chaosconn.ModeCrashMidStream, "")
		wantCode(t, err, sdk.CodeUnavailable)
		waitFor(t, 10*time.Second, "FAILED", func() bool { return h.State().Phase == Failed })
		s := h.State()
		if s.Restarts != 3 || s.ConsecutiveFailures != 3 || s.PID != 0 {
			t.Errorf("state %+v, want 3 restarts and no process", s)
		}
		start := time.Now()
		_, err = h.Client().Check(testCtx(t))
		wantCode(t, err, sdk.CodeUnavailable)
		mustContain(t, err, "plugin crm FAILED after 3 restarts: ", "; restart it with POST /v1/admin/sources/crm/restart")
		if time.Since(start) > time.Second {
			t.Errorf("a call to a FAILED plugin took %s; it must fail fast", time.Since(start))
		}

		if err := os.Remove(exitFile); err != nil {
			t.Fatal(err)
		}
		if err := h.Restart(testCtx(t)); err != nil {
			t.Fatalf("Restart: %v", err)
		}
		if s := h.State(); s.Phase != Running || s.ConsecutiveFailures != 0 {
			t.Errorf("state after Restart %+v", s)
		}
		if _, err := h.Client().Check(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		if got := m.count("restart"); got != 3 {
			t.Errorf("restart metric %d, want 3", got)
		}
		if got := m.count("call Fetch unavailable"); got != 1 {
			t.Errorf("Fetch unavailable errors %d, want 1", got)
		}
		if got := m.count("call Check unavailable"); got != 1 {
			t.Errorf("Check unavailable errors %d, want 1", got)
		}
		if got := m.last(); got != "state running" {
			t.Errorf("last state metric %q", got)
		}
	})

	t.Run("a_plugin_that_fails_its_health_check_is_restarted", func(t *testing.T) {
		t.Parallel()
		h, _ := startHost(t, `{}`, func(o *Options) {
			o.HealthInterval = 50 * time.Millisecond
			o.CallTimeout = 500 * time.Millisecond
		})
		pid := h.State().PID
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "a new process", func() bool { s := h.State(); return s.Phase == Running && s.PID != pid })
		if s := h.State(); !strings.Contains(fmt.Sprint(s.LastError), "health check") {
			t.Errorf("last error %v, want the failed health check", s.LastError)
		}
		if _, err := h.Client().Check(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("the_plugin_gets_none_of_the_hubs_environment", func(t *testing.T) {
		t.Parallel()
		h, _ := startHost(t, fmt.Sprintf(`{"env_var": %q}`, secretEnv), func(o *Options) { o.Env = []string{"HTTPS_PROXY=http://proxy:3128"} })
		if os.Getenv(secretEnv) == "" {
			t.Fatalf("%s is not set in the test process", secretEnv)
		}
		r, err := h.Client().Check(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		if r.Message != secretEnv+"=" {
			t.Errorf("plugin saw %q", r.Message)
		}
		allowed := map[string]bool{"SYNCHUB_PLUGIN": true, "PLUGIN_MIN_PORT": true, "PLUGIN_MAX_PORT": true,
			"PLUGIN_PROTOCOL_VERSIONS": true, "PLUGIN_CLIENT_CERT": true, "HTTPS_PROXY": true, "TMPDIR": true}
		names := strings.Split(r.Identity.Attributes["env_names"], ",")
		for _, name := range names {
			if !allowed[name] {
				t.Errorf("plugin inherited %s from the hub (all: %v)", name, names)
			}
		}
		if !strings.Contains(r.Identity.Attributes["env_names"], "HTTPS_PROXY") {
			t.Errorf("Options.Env did not reach the plugin: %v", names)
		}
	})

	t.Run("a_plugin_told_to_profile_writes_its_cpu_profile_when_stopped", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "plugin-cpu.pprof")
		h, _ := startHost(t, `{}`, func(o *Options) { o.Env = []string{sdk.CPUProfileEnv + "=" + path} })
		if _, err := h.Client().Check(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		h.Stop()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("no profile: %v", err)
		}
		if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			t.Errorf("the profile is not a gzipped pprof profile (%d bytes)", len(b))
		}
	})

	t.Run("plugin_logs_arrive_named_after_the_source", func(t *testing.T) {
		t.Parallel()
		_, buf := startHost(t, `{}`, func(o *Options) { o.Source = "erp-eu" })
		waitFor(t, 5*time.Second, "the plugin's log line", func() bool {
			for _, line := range strings.Split(buf.String(), "\n") {
				if strings.Contains(line, "chaos configured") && strings.Contains(line, `"source":"erp-eu"`) && strings.Contains(line, `"@module":"chaos"`) {
					return true
				}
			}
			return false
		})
	})

	t.Run("stop_ends_the_process_and_calls_fail", func(t *testing.T) {
		t.Parallel()
		h, _ := startHost(t, `{}`, nil)
		pid := h.State().PID
		h.Stop()
		if running(pid) {
			t.Errorf("plugin %d runs after Stop", pid)
		}
		if s := h.State(); s.Phase != Stopped {
			t.Errorf("state %+v after Stop", s)
		}
		_, err := h.Client().Check(testCtx(t))
		mustContain(t, err, "plugin crm is stopped")
		h.Stop()
	})

	t.Run("concurrent_calls_ride_out_a_restart", func(t *testing.T) {
		t.Parallel()
		marker := filepath.Join(t.TempDir(), "crashed")
		h, _ := startHost(t, fmt.Sprintf(`{"crash_once_file": %q}`, marker), nil)
		ctx := testCtx(t)
		_, _, err := fetch(ctx, h.Client(), chaosconn.ModeCrashMidStream, "")
		wantCode(t, err, sdk.CodeUnavailable)
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ids, _, err := fetch(ctx, h.Client(), "account", "")
				if err == nil && len(ids) != 6 {
					err = fmt.Errorf("got %d records", len(ids))
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Error(err)
			}
		}
	})
}

// testMetrics records what a Host reports, as "restart", "state <phase>"
// and "call <call> <code>" events.
type testMetrics struct {
	mu     sync.Mutex
	events []string
}

func (m *testMetrics) add(e string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
}

func (m *testMetrics) metrics() *Metrics {
	return &Metrics{
		restarted: func(string) { m.add("restart") },
		state:     func(_ string, p Phase) { m.add("state " + p.String()) },
		called: func(_, call string, _ time.Duration, code string) {
			if code != "" {
				m.add("call " + call + " " + code)
			}
		},
	}
}

func (m *testMetrics) count(e string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, got := range m.events {
		if got == e {
			n++
		}
	}
	return n
}

func (m *testMetrics) last() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.events) - 1; i >= 0; i-- {
		if strings.HasPrefix(m.events[i], "state ") {
			return m.events[i]
		}
	}
	return ""
}
