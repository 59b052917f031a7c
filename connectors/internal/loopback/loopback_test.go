package loopback

import (
	"io"
	"net/http"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestStartServesUntilClose(t *testing.T) {
	var l Server
	if l.URL() != "" {
		t.Fatalf("URL before Start = %q", l.URL())
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "hello") })
	base, err := l.Start("127.0.0.1:0", h, hclog.NewNullLogger(), "test emulator")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := l.Start("127.0.0.1:0", h, hclog.NewNullLogger(), "test emulator"); again != base || l.URL() != base {
		t.Errorf("a second Start gave %q and URL %q, want %q", again, l.URL(), base)
	}
	resp, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "hello" {
		t.Errorf("served %q", body)
	}
	l.Close()
	l.Close() // twice is fine
	if _, err := http.Get(base + "/"); err == nil {
		t.Error("still serving after Close")
	}
	if _, err := l.Start("256.0.0.1:0", h, hclog.NewNullLogger(), "test emulator"); err == nil {
		t.Error("listening on a bad address did not fail")
	}
}
