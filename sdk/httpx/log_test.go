package httpx

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLogging_debug_per_attempt_warn_per_retry_no_secrets(t *testing.T) {
	var out syncBuffer
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: &out, JSONFormat: true})
	tokens := newTokenServer(t, 3600, false)
	b := newBackend(t, step{status: 503}, step{status: 200})
	c, _ := newTestClient(t, b, func(o *Options) { o.Logger = logger; o.TokenSource = tokens.source(t) })
	if _, err := c.R(testContext(t)).Get("/files?sig=s1gnature&$top=5"); err != nil {
		t.Fatal(err)
	}
	log := out.String()
	for _, want := range []string{`"@level":"debug"`, `"status":503`, `"status":200`, `"attempt":2`, `"@level":"warn"`, `"wait"`, `$top=5`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %s:\n%s", want, log)
		}
	}
	for _, secret := range []string{"tok-1", "s1gnature", testSecret, "Authorization"} {
		if strings.Contains(log, secret) {
			t.Errorf("log leaks %q:\n%s", secret, log)
		}
	}
}
