package emulator

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// The /_emulator admin API (no auth, JSON) drives the demo and the CLI:
//
//	GET    /_emulator/stats                 counters and row counts
//	GET    /_emulator/{set}?limit=N         {"count":…, "ids":[…first N…]}
//	POST   /_emulator/{set}?n=N             bulk-add N generated rows (AddRecords)
//	GET    /_emulator/{set}/{id}            the row (Get)
//	PATCH  /_emulator/{set}/{id}            server-side edit or create (Upsert), e.g. {"_ownerid_value":"<guid>"}
//	DELETE /_emulator/{set}/{id}            server-side delete (Delete)
//	GET    /_emulator/users                 Users()
//	POST   /_emulator/faults                arm a Fault (JSON body)
func (s *Server) serveAdmin(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/_emulator"), "/"), "/")
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if v != nil {
			_ = json.NewEncoder(w).Encode(v)
		}
	}
	fail := func(status int, msg string) { reply(status, map[string]string{"error": msg}) }
	switch {
	case len(parts) == 1 && parts[0] == "stats" && r.Method == http.MethodGet:
		reply(http.StatusOK, s.stats())
		return
	case len(parts) == 1 && parts[0] == "users" && r.Method == http.MethodGet:
		reply(http.StatusOK, s.Users())
		return
	case len(parts) == 1 && parts[0] == "faults" && r.Method == http.MethodPost:
		var f Fault
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&f); err != nil {
			fail(http.StatusBadRequest, "invalid fault: "+err.Error())
			return
		}
		s.InjectFault(f)
		reply(http.StatusAccepted, f)
		return
	}
	if len(parts) == 0 || parts[0] == "" || s.st.tables[parts[0]] == nil {
		fail(http.StatusNotFound, "unknown entity set")
		return
	}
	set := parts[0]
	if len(parts) == 1 {
		switch r.Method {
		case http.MethodGet:
			limit := 1000
			if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n >= 0 {
				limit = n
			}
			ids := s.IDs(set)
			reply(http.StatusOK, map[string]any{"count": len(ids), "ids": ids[:min(limit, len(ids))]})
		case http.MethodPost:
			n, err := strconv.Atoi(r.URL.Query().Get("n"))
			if err != nil || n <= 0 {
				fail(http.StatusBadRequest, "n must be a positive integer")
				return
			}
			s.AddRecords(set, n)
			reply(http.StatusOK, map[string]any{"count": s.Count(set)})
		default:
			fail(http.StatusMethodNotAllowed, "method not allowed")
		}
		return
	}
	if len(parts) != 2 {
		fail(http.StatusNotFound, "not found")
		return
	}
	id := parts[1]
	switch r.Method {
	case http.MethodGet:
		row, ok := s.Get(set, id)
		if !ok {
			fail(http.StatusNotFound, "no such row")
			return
		}
		reply(http.StatusOK, row)
	case http.MethodPatch, http.MethodPut:
		var fields map[string]any
		dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
		dec.UseNumber()
		if err := dec.Decode(&fields); err != nil {
			fail(http.StatusBadRequest, "body must be a JSON object: "+err.Error())
			return
		}
		if s.Upsert(set, id, fields) == "" {
			fail(http.StatusBadRequest, "edit rejected (see the emulator log)")
			return
		}
		row, _ := s.Get(set, id)
		reply(http.StatusOK, row)
	case http.MethodDelete:
		if !s.Delete(set, id) {
			fail(http.StatusNotFound, "no such row")
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		fail(http.StatusMethodNotAllowed, "method not allowed")
	}
}

func (s *Server) stats() map[string]any {
	unlock := s.st.rlock()
	counts := map[string]int{}
	for name, t := range s.st.tables {
		counts[name] = len(t.rows)
	}
	version := s.st.version
	unlock()
	return map[string]any{
		"requests":      s.Requests(),
		"throttled":     int(s.throttled.Load()),
		"version":       version,
		"entities":      counts,
		"tokens":        s.auth.count(),
		"faultsPending": s.faults.pending(),
	}
}
