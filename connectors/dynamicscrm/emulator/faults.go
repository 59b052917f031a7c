package emulator

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Fault is an injected failure for the next matching requests.
type Fault struct {
	// Path matches when it is a substring of the request path (an entity
	// set name such as "accounts" works; "$batch" and "oauth2" too). Empty
	// matches every request.
	Path string `json:"path"`
	// Method limits the fault to one HTTP method; empty matches any.
	Method string `json:"method"`
	// Status is the answer's status code (default 500). With AfterApply and
	// no Status the connection is closed without an answer.
	Status int `json:"status"`
	// Times is how many matching requests fail (default 1).
	Times int `json:"times"`
	// AfterApply performs the request first (the write is stored), then
	// fails: the answer was lost.
	AfterApply bool `json:"afterApply"`
	// Garbage answers with an HTML error page instead of a JSON body.
	Garbage bool `json:"garbage"`
}

type faultState struct {
	mu   sync.Mutex
	list []*pendingFault
}

type pendingFault struct {
	Fault
	left int
}

// InjectFault arms f; faults are matched in the order they were injected.
func (s *Server) InjectFault(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.list = append(s.faults.list, &pendingFault{Fault: f, left: f.Times})
}

func (fs *faultState) pending() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n := 0
	for _, f := range fs.list {
		n += f.left
	}
	return n
}

func (fs *faultState) take(method, path string) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, f := range fs.list {
		if f.Method != "" && !strings.EqualFold(f.Method, method) {
			continue
		}
		if f.Path != "" && !strings.Contains(path, f.Path) {
			continue
		}
		f.left--
		if f.left <= 0 {
			fs.list = append(fs.list[:i], fs.list[i+1:]...)
		}
		return f.Fault, true
	}
	return Fault{}, false
}

const garbagePage = `<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Service Unavailable</title></head>
<body><h1>Server Error in '/' Application.</h1><h2>The service is unavailable.</h2><hr/><p>HTTP Error %d. The request could not be processed.</p></body></html>
`

func (s *Server) writeFault(w http.ResponseWriter, f Fault) {
	status := f.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	h := w.Header()
	if f.Garbage {
		h.Set("Content-Type", "text/html")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(strings.Replace(garbagePage, "%d", strconv.Itoa(status), 1)))
		return
	}
	var e *apiError
	switch status {
	case http.StatusTooManyRequests:
		limit, window := max(s.opts.RequestBudget, 6000), 300
		if s.opts.BudgetWindow > 0 {
			window = int(s.opts.BudgetWindow.Seconds())
		}
		e = newErr(status, codeThrottleRequests, "Number of requests exceeded the limit of %d over time window of %d seconds.", limit, window)
		h.Set("Retry-After", "1")
	case http.StatusUnauthorized:
		e = newErr(status, codeAuth, "The requested resource requires authentication.")
	case http.StatusServiceUnavailable:
		e = newErr(status, codeUnexpected, "The service is temporarily unavailable. Please try again later.")
	default:
		e = newErr(status, codeUnexpected, "An unexpected error occurred.")
	}
	writeResponse(w, errorResponse(e, prefer{}))
}
