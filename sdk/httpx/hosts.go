package httpx

import (
	"fmt"
	"net"
	"net/url"
	"strings"
)

// hostPolicy decides which URLs are trusted: they may be requested and they
// receive the bearer token. A URL is trusted when it uses the BaseURL's
// scheme (https when there is no BaseURL, so a token never travels in clear
// because of a downgraded link) and its host is the BaseURL's host or matches
// an AllowedHosts entry.
type hostPolicy struct {
	scheme  string   // required scheme
	base    string   // canonical host[:port] of BaseURL, "" if none
	allowed []string // lower-case entries: "host", "host:port", "*.domain"
}

func newHostPolicy(base *url.URL, allowed []string) hostPolicy {
	p := hostPolicy{scheme: "https"}
	if base != nil && base.Host != "" {
		p.scheme = strings.ToLower(base.Scheme)
		p.base = canonicalHost(base)
	}
	for _, h := range allowed {
		h = strings.ToLower(strings.TrimSpace(h))
		if h != "" {
			p.allowed = append(p.allowed, h)
		}
	}
	return p
}

func (p hostPolicy) trusted(u *url.URL) bool {
	if u == nil || !strings.EqualFold(u.Scheme, p.scheme) || u.Host == "" {
		return false
	}
	host := canonicalHost(u)
	if p.base != "" && host == p.base {
		return true
	}
	name := strings.ToLower(u.Hostname())
	for _, a := range p.allowed {
		if strings.HasPrefix(a, "*.") { // any subdomain, not the apex
			if strings.HasSuffix(name, a[1:]) {
				return true
			}
			continue
		}
		if h, port, err := net.SplitHostPort(a); err == nil { // host:port
			if name == h && effectivePort(u) == port {
				return true
			}
			continue
		}
		if name == strings.Trim(a, "[]") { // bare host: any port
			return true
		}
	}
	return false
}

func (p hostPolicy) refusal(u *url.URL) error {
	base := p.base
	if base == "" {
		base = "none"
	}
	return fmt.Errorf("%w: %s://%s is neither the BaseURL host (%s://%s) nor in Options.AllowedHosts %v; the request was not sent",
		ErrHostNotAllowed, u.Scheme, u.Host, p.scheme, base, p.allowed)
}

// canonicalHost is the lower-case host with the scheme's default port
// dropped, so https://h and https://h:443 compare equal.
func canonicalHost(u *url.URL) string {
	name := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" || (port == "443" && strings.EqualFold(u.Scheme, "https")) || (port == "80" && strings.EqualFold(u.Scheme, "http")) {
		if strings.Contains(name, ":") {
			return "[" + name + "]"
		}
		return name
	}
	return net.JoinHostPort(name, port)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}
