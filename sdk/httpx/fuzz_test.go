package httpx

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "0", "-1", "1.5", "NaN", "Inf", "1e400", "Wed, 21 Oct 2015 07:28:00 GMT", "soon", ""} {
		f.Add(s, []byte(`{"error":{"retry_after":3}}`))
	}
	f.Add("", []byte(`{"retry_after":1e308}`))
	f.Add("", []byte(`{"error":"invalid_grant"}`))
	now := time.Date(2015, 10, 21, 7, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		h := http.Header{"Retry-After": {header}, "Content-Type": {"application/json"}}
		d, ok := retryAfter(http.StatusTooManyRequests, h, body, now)
		if d < 0 || d > maxRetryAfterValue || (ok && d == 0) {
			t.Errorf("retryAfter(%q, %q) = %s, %v", header, body, d, ok)
		}
	})
}

func FuzzRedactURL(f *testing.F) {
	f.Add("https://h/p?code=abc&$filter=name eq 'x'&sig=zzz")
	f.Add("https://user:pw@h/?%zz=1&token")
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		got := redactURL(u)
		if pw, ok := u.User.Password(); ok && len(pw) > 3 && strings.Contains(got, pw+"@") {
			t.Errorf("password kept: %s", got)
		}
		for _, part := range strings.Split(u.RawQuery, "&") {
			k, v, _ := strings.Cut(part, "=")
			name, _ := url.QueryUnescape(k)
			if secretParam(name) && len(v) > 8 && strings.Contains(got, k+"="+v) {
				t.Errorf("secret %s kept: %s", k, got)
			}
		}
	})
}
