package api

import (
	"errors"
	"net/http"
	"net/url"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
)

// logRequests logs each request once it is done: debug for successes,
// info for client errors, warn for server errors. Query strings are left
// out: they carry checkpoints.
func (s *Server) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	status := c.Writer.Status()
	level := hclog.Debug
	switch {
	case status >= 500:
		level = hclog.Warn
	case status >= 400:
		level = hclog.Info
	}
	if !s.log.IsDebug() && level == hclog.Debug {
		return
	}
	args := []any{"method", c.Request.Method, "path", c.Request.URL.Path, "status", status,
		"duration", time.Since(start), "bytes", c.Writer.Size(), "client", c.ClientIP()}
	if a, ok := c.Get(ctxAuth); ok {
		args = append(args, "user", a.(*caller).user.Name)
	}
	if len(c.Errors) > 0 {
		args = append(args, "errors", c.Errors.String())
	}
	s.log.Log(level, "request", args...)
}

// recoverPanics turns a handler's panic into a logged error and a JSON 500
// (or, when the response has begun, an aborted connection: a half-written
// body must not look complete). http.ErrAbortHandler passes through.
func (s *Server) recoverPanics(c *gin.Context) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
			panic(v)
		}
		s.log.Error("handler panicked", "method", c.Request.Method, "route", c.FullPath(),
			"panic", v, "stack", string(debug.Stack()))
		if c.Writer.Written() {
			panic(http.ErrAbortHandler)
		}
		abortError(c, http.StatusInternalServerError, codeInternal, "internal error; see the hub's log")
	}()
	c.Next()
}

// checkQuery refuses a query string that does not parse: dropping the
// broken pair silently could turn a bad checkpoint into a full sync.
func checkQuery(c *gin.Context) {
	if _, err := url.ParseQuery(c.Request.URL.RawQuery); err != nil {
		abortError(c, http.StatusBadRequest, codeInvalidParameter, "malformed query string: "+err.Error())
		return
	}
	c.Next()
}

// limitBody caps every request body at the configured size; decodeJSON
// reports the overflow as 413. File uploads have a limit of their own.
func (s *Server) limitBody(c *gin.Context) {
	if c.FullPath() == uploadRoute {
		c.Next() // a file upload: capped by the upload limit (postFile)
		return
	}
	if c.Request.ContentLength > s.maxBody {
		abortError(c, http.StatusRequestEntityTooLarge, codeBodyTooLarge,
			"request body is larger than "+strconv.FormatInt(s.maxBody, 10)+" bytes")
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.maxBody)
	c.Next()
}

// httpMetrics are the API's Prometheus collectors.
type httpMetrics struct {
	duration *prometheus.HistogramVec
	inFlight prometheus.Gauge
}

func newHTTPMetrics(reg prometheus.Registerer, log hclog.Logger) *httpMetrics {
	m := &httpMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "synchub_http_request_duration_seconds",
			Help:    "HTTP request latency by route, method and status (streams count until their end).",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10), // 1ms .. ~4.4min
		}, []string{"route", "method", "status"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "synchub_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
	}
	m.duration = registerOrReuse(reg, m.duration, log)
	m.inFlight = registerOrReuse(reg, m.inFlight, log)
	return m
}

// registerOrReuse registers c, or returns the collector already registered
// under its name (two servers on one registry share the metrics).
func registerOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C, log hclog.Logger) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		log.Warn("cannot register HTTP metrics", "error", err)
	}
	return c
}

func (m *httpMetrics) middleware(c *gin.Context) {
	start := time.Now()
	m.inFlight.Inc()
	defer func() {
		m.inFlight.Dec()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		m.duration.WithLabelValues(route, c.Request.Method, strconv.Itoa(c.Writer.Status())).
			Observe(time.Since(start).Seconds())
	}()
	c.Next()
}
