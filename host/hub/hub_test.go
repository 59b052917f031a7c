package hub_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/hub"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
	"github.com/synchub/synchub/sdk"
)

var pluginDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "synchub-hub-test-")
	if err != nil {
		panic(err)
	}
	pluginDir = dir
	for _, name := range []string{"chaos", "memconn"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, name), "github.com/synchub/synchub/plugins/"+name).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "build plugin %s: %v\n%s", name, err, out)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func loadConfig(t *testing.T, src string) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "hub.hcl")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestPluginKilledMidFetchIsRestartedAndThePullResumes drives a real plugin process through the pull pipeline: the chaos plugin
// crashes after two pages; the host restarts it and the next pull carries on
// from the last committed page, with no gap and no duplicate.
func TestPluginKilledMidFetchIsRestartedAndThePullResumes(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		crashFile := filepath.Join(t.TempDir(), "crashed")
		cfg := loadConfig(t, fmt.Sprintf(`
hub { plugin_dir = %q }
source "chaos" {
  plugin = "chaos"
  config = { mode = "crash_mid_stream", pages = 5, page_records = 3, after = 2, crash_once_file = %q }
  interval = "0"
  entity "items" { partition_by = "*" }
}
`, pluginDir, crashFile))
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		h, err := hub.Open(ctx, hub.Options{Config: cfg, Store: st, Logger: hclog.NewNullLogger()})
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()

		_, err = h.Puller().PullEntity(ctx, "chaos", "items", false)
		if err == nil {
			t.Fatal("the first pull should fail when the plugin crashes")
		}
		if sdk.CodeOf(err) != sdk.CodeUnavailable {
			t.Errorf("the first pull failed with %v, want an unavailable-plugin error", err)
		}
		if n, _ := st.CountRecords(ctx, "chaos", "items"); n != 6 {
			t.Fatalf("after the crash the mirror holds %d records, want the 6 of the two committed pages", n)
		}
		res, err := h.Puller().PullEntity(ctx, "chaos", "items", false)
		if err != nil {
			t.Fatalf("the pull after the restart: %v", err)
		}
		if res.Changed != 9 {
			t.Errorf("the resumed pull changed %d records, want the 9 of the last three pages", res.Changed)
		}
		if n, _ := st.CountRecords(ctx, "chaos", "items"); n != 15 {
			t.Errorf("the mirror holds %d records, want 15", n)
		}
		if seq, _ := st.SourceSeq(ctx, "chaos"); seq != 15 {
			t.Errorf("the source's seq is %d, want 15 (one per record: nothing applied twice)", seq)
		}
		src, _ := h.Sources().Get("chaos")
		if r := src.Host.State().Restarts; r < 1 {
			t.Errorf("the plugin was restarted %d times, want at least 1", r)
		}
		// What /metrics serves, an embedder gathers too.
		families, err := h.Metrics().Gather()
		if err != nil {
			t.Fatal(err)
		}
		var restarts bool
		for _, f := range families {
			restarts = restarts || strings.Contains(f.GetName(), "restart")
		}
		if !restarts {
			t.Errorf("the hub's metrics have no plugin restarts: %d families", len(families))
		}
	})
}

func TestOpenNamesTheSourceAndLineOfAConfigTheConnectorRefuses(t *testing.T) {
	st := storetest.SQLite(t)
	cfg := loadConfig(t, fmt.Sprintf(`
hub { plugin_dir = %q }
source "mem" {
  plugin = "memconn"
  config = { no_such_key = 1 }
  entity "account" { partition_by = "*" }
}
`, pluginDir))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := hub.Open(ctx, hub.Options{Config: cfg, Store: st})
	if err == nil {
		t.Fatal("Open accepted a config the connector refuses")
	}
	for _, want := range []string{"hub.hcl:3", `Source "mem"`, "no_such_key"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
