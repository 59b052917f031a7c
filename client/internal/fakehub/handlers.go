package fakehub

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// serve routes a request like the hub's device API.
func (h *Hub) serve(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.calls = append(h.calls, r.Method+" "+r.URL.RequestURI())
	h.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	parts := strings.Split(path, "/")
	switch {
	case r.Method == "POST" && path == "auth/token":
		h.login(w, r)
		return
	case r.Method == "POST" && path == "auth/refresh":
		h.refreshToken(w, r)
		return
	}
	device, ok := h.authorize(r)
	if !ok {
		writeError(w, http.StatusUnauthorized, "unauthorized", "missing, invalid or expired access token")
		return
	}
	switch {
	case r.Method == "POST" && path == "auth/logout":
		w.WriteHeader(http.StatusNoContent)
	case r.Method == "GET" && path == "me":
		writeJSON(w, map[string]any{"user": "u", "role": "user", "identities": map[string]any{}, "device": map[string]any{"id": device}})
	case r.Method == "GET" && path == "sources":
		h.mu.Lock()
		var list []map[string]any
		for _, n := range h.order {
			list = append(list, map[string]any{"name": n, "entities": []string{}, "partitions": []string{}, "writable": true})
		}
		h.mu.Unlock()
		writeJSON(w, map[string]any{"sources": list})
	case len(parts) == 3 && parts[0] == "files" && parts[2] == "content" && r.Method == "GET":
		h.content(w, r, parts[1])
	case len(parts) >= 3 && parts[0] == "sources":
		h.mu.Lock()
		_, known := h.sources[parts[1]]
		h.mu.Unlock()
		if !known {
			writeError(w, http.StatusNotFound, "not_found", "no source "+parts[1])
			return
		}
		src, rest := parts[1], strings.Join(parts[2:], "/")
		switch {
		case r.Method == "GET" && rest == "schema":
			h.mu.Lock()
			ents := h.sources[src].entities
			h.mu.Unlock()
			writeJSON(w, map[string]any{"source": src, "entities": ents})
		case r.Method == "GET" && rest == "changes":
			h.changes(w, r, src, device)
		case r.Method == "POST" && rest == "mutations":
			h.mutate(w, r, src, device)
		case r.Method == "GET" && rest == "sync-errors":
			h.mu.Lock()
			errs := slices.Clone(h.errors[src])
			h.mu.Unlock()
			if errs == nil {
				errs = []map[string]any{}
			}
			writeJSON(w, map[string]any{"errors": errs})
		case r.Method == "POST" && len(parts) == 5 && parts[2] == "sync-errors" && parts[4] == "resolve":
			h.resolve(w, r, src, parts[3])
		case r.Method == "POST" && rest == "files":
			body, _ := io.ReadAll(r.Body)
			q := r.URL.Query()
			h.mu.Lock()
			h.uploads = append(h.uploads, Upload{Source: src, Entity: q.Get("entity"), ID: q.Get("id"), Name: q.Get("name"),
				ContentType: r.Header.Get("Content-Type"), Content: body})
			h.mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			writeJSON(w, map[string]any{"status": "accepted"})
		case r.Method == "GET" && rest == "events":
			h.events(w, r, src)
		default:
			writeError(w, http.StatusNotFound, "not_found", "no route "+r.Method+" "+r.URL.Path)
		}
	default:
		writeError(w, http.StatusNotFound, "not_found", "no route "+r.Method+" "+r.URL.Path)
	}
}

func (h *Hub) issue(device string) map[string]any {
	h.tokenN++
	a, rt := fmt.Sprintf("access-%d", h.tokenN), fmt.Sprintf("refresh-%d", h.tokenN)
	h.access[a] = device
	h.refresh[rt] = device
	return map[string]any{"access_token": a, "refresh_token": rt, "expires_in": h.TokenTTL, "token_type": "Bearer"}
}

func (h *Hub) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
		DeviceID string `json:"device_id"`
	}
	if !decodeStrict(w, r, &req) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if pw, ok := h.users[req.Username]; !ok || pw != req.Password || req.DeviceID == "" {
		writeError(w, http.StatusUnauthorized, "invalid_credentials", "wrong user name or password")
		return
	}
	writeJSON(w, h.issue(req.DeviceID))
}

func (h *Hub) refreshToken(w http.ResponseWriter, r *http.Request) {
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if !decodeStrict(w, r, &req) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	device, ok := h.refresh[req.RefreshToken]
	if !ok {
		// A spent token revokes the login, as the hub does.
		clear(h.access)
		clear(h.refresh)
		writeError(w, http.StatusUnauthorized, "unauthorized", "refresh token is not valid")
		return
	}
	delete(h.refresh, req.RefreshToken)
	writeJSON(w, h.issue(device))
}

func (h *Hub) authorize(r *http.Request) (string, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	d, ok := h.access[tok]
	return d, ok
}

// The checkpoint: base64url(JSON {"p": {partition: seq}}) + ".sig".
func encodeCheckpoint(seqs map[string]int64) string {
	b, _ := json.Marshal(map[string]any{"p": seqs})
	return base64.RawURLEncoding.EncodeToString(b) + ".fake"
}

func decodeCheckpoint(tok string) (map[string]int64, bool) {
	payload, sig, ok := strings.Cut(tok, ".")
	if !ok || sig != "fake" {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil, false
	}
	var cp struct {
		P map[string]int64 `json:"p"`
	}
	if json.Unmarshal(b, &cp) != nil {
		return nil, false
	}
	return cp.P, true
}

func (h *Hub) changes(w http.ResponseWriter, r *http.Request, src, device string) {
	limit := 500
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 5000 {
			writeError(w, http.StatusBadRequest, "invalid_parameter", "limit must be an integer from 1 to 5000")
			return
		}
		limit = n
	}
	var prev map[string]int64
	if tok := r.URL.Query().Get("checkpoint"); tok != "" {
		var ok bool
		if prev, ok = decodeCheckpoint(tok); !ok {
			writeError(w, http.StatusBadRequest, "invalid_checkpoint", "checkpoint signature does not match")
			return
		}
	}
	h.mu.Lock()
	h.changesArrived++
	n, hook := h.changesArrived, h.OnChanges
	h.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.changesN++
	if h.FailChanges == h.changesN {
		writeError(w, http.StatusInternalServerError, "internal", "injected failure")
		return
	}
	s := h.source(src)
	partitions := map[string]bool{}
	for _, it := range s.items {
		partitions[it.partition] = true
	}
	since := map[string]int64{}
	reset := []string{}
	for p := range partitions {
		since[p] = prev[p]
		if since[p] > 0 && since[p] < s.floors[p] {
			since[p] = 0
			reset = append(reset, p)
		}
	}
	for p := range prev {
		if !partitions[p] {
			reset = append(reset, p)
		}
	}
	slices.Sort(reset)
	var items []*item
	for _, it := range s.items {
		from, ok := since[it.partition]
		if !ok || it.seq <= from || (from == 0 && it.removed) {
			continue
		}
		items = append(items, it)
	}
	slices.SortFunc(items, func(a, b *item) int { return int(a.seq - b.seq) })
	more := len(items) > limit
	if more {
		items = items[:limit]
	}
	var last int64
	ops := []map[string]any{}
	for _, it := range items {
		op := map[string]any{"seq": it.seq, "partition": it.partition, "entity": it.entity, "id": it.id}
		if it.removed {
			op["op"] = "remove"
		} else {
			op["op"], op["version"], op["modified_at"], op["fields"] = "put", it.version, it.modified, it.fields
		}
		ops = append(ops, op)
		last = it.seq
	}
	next := map[string]int64{}
	for p, seq := range since {
		next[p] = max(seq, last)
		if !more {
			next[p] = max(next[p], s.seq)
		}
	}
	applied := []map[string]string{}
	if !h.HoldApplied {
		applied = append(applied, h.applied[device]...)
		delete(h.applied, device)
	}
	writeJSON(w, map[string]any{"reset": reset, "ops": ops, "has_more": more, "checkpoint": encodeCheckpoint(next), "applied": applied})
}

func (h *Hub) mutate(w http.ResponseWriter, r *http.Request, src, device string) {
	var req struct {
		Mutations []Mutation `json:"mutations"`
	}
	if !decodeStrict(w, r, &req) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	accepted := []string{}
	rejected := []map[string]string{}
	ents := map[string]Entity{}
	for _, e := range h.source(src).entities {
		ents[e.Name] = e
	}
	for _, m := range req.Mutations {
		if _, dup := h.mutations[m.MutationID]; dup {
			accepted = append(accepted, m.MutationID)
			continue
		}
		e, ok := ents[m.Entity]
		switch {
		case !ok:
			rejected = append(rejected, map[string]string{"mutation_id": m.MutationID, "reason": "unknown entity " + m.Entity})
			continue
		case e.ReadOnly:
			rejected = append(rejected, map[string]string{"mutation_id": m.MutationID, "reason": "entity " + m.Entity + " is read-only"})
			continue
		}
		h.mutations[m.MutationID] = m
		h.mutDevice[m.MutationID] = device
		accepted = append(accepted, m.MutationID)
		if h.ApplyMutations {
			h.apply(m, device)
		} else {
			h.unapplied = append(h.unapplied, m.MutationID)
		}
	}
	writeJSON(w, map[string]any{"accepted": accepted, "rejected": rejected})
}

// apply writes a mutation into the mirror (a conflict on base_version
// becomes a sync error) and queues its applied report.
func (h *Hub) apply(m Mutation, device string) {
	src := ""
	for n, s := range h.sources {
		for _, e := range s.entities {
			if e.Name == m.Entity {
				src = n
			}
		}
	}
	s := h.source(src)
	// Temporary client ids of parents map to back-end ids (DESIGN §5.3).
	if sid, ok := h.serverID[m.ID]; ok {
		m.ID = sid
	}
	m.Fields = maps.Clone(m.Fields)
	for k, v := range m.Fields {
		if l, ok := v.(map[string]any); ok {
			if id, _ := l["id"].(string); h.serverID[id] != "" {
				l = maps.Clone(l)
				l["id"] = h.serverID[id]
				m.Fields[k] = l
			}
		}
	}
	cur := s.items[m.Entity+"/"+m.ID]
	if m.Op != "create" && cur != nil && !cur.removed && m.BaseVersion != "" && m.BaseVersion != cur.version {
		h.idN++
		h.errors[src] = append(h.errors[src], map[string]any{"id": fmt.Sprintf("err-%d", h.idN), "mutation_id": m.MutationID,
			"entity": m.Entity, "record_id": m.ID, "reason": "conflict: record changed on the server", "status": "unresolved",
			"server_record": map[string]any{"id": m.ID, "version": cur.version, "fields": cur.fields}, "device_record": m.Fields,
			"conflicting_fields": slices.Sorted(maps.Keys(m.Fields))})
		return
	}
	rep := map[string]string{"mutation_id": m.MutationID}
	switch m.Op {
	case "create":
		id := m.ID
		if h.ServerIDs {
			h.idN++
			id = fmt.Sprintf("srv-%d", h.idN)
			rep["id"] = id
			h.serverID[m.ID] = id
		}
		part := m.Entity + "/*"
		if h.Partition != nil {
			part = h.Partition(m.Entity, m.Fields)
		}
		h.put(src, m.Entity, id, part, m.Fields)
	case "update":
		if cur == nil || cur.removed {
			h.idN++
			h.errors[src] = append(h.errors[src], map[string]any{"id": fmt.Sprintf("err-%d", h.idN), "mutation_id": m.MutationID,
				"entity": m.Entity, "record_id": m.ID, "reason": "not_found", "status": "unresolved"})
			return
		}
		f := maps.Clone(cur.fields)
		maps.Copy(f, m.Fields)
		h.put(src, m.Entity, m.ID, cur.partition, f)
	case "delete":
		h.remove(src, m.Entity, m.ID)
	}
	h.applied[device] = append(h.applied[device], rep)
}

func (h *Hub) resolve(w http.ResponseWriter, r *http.Request, src, id string) {
	var req struct {
		Resolution string         `json:"resolution"`
		Fields     map[string]any `json:"fields"`
	}
	if !decodeStrict(w, r, &req) {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i, e := range h.errors[src] {
		if e["id"] == id {
			h.errors[src] = slices.Delete(h.errors[src], i, i+1)
			if req.Resolution == "keep_mine" {
				m := h.mutations[e["mutation_id"].(string)]
				m.BaseVersion = ""
				h.apply(m, h.mutDevice[m.MutationID])
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	writeError(w, http.StatusNotFound, "not_found", "no sync error "+id)
}

func (h *Hub) content(w http.ResponseWriter, r *http.Request, id string) {
	h.mu.Lock()
	f := h.files[id]
	cut, hasCut := h.cut[id]
	delete(h.cut, id)
	h.ranges[id] = append(h.ranges[id], r.Header.Get("Range"))
	h.mu.Unlock()
	if f == nil {
		writeError(w, http.StatusNotFound, "not_found", "no file "+id)
		return
	}
	size := int64(len(f.content))
	start := int64(0)
	w.Header().Set("ETag", f.etag)
	w.Header().Set("Accept-Ranges", "bytes")
	w.Header().Set("Content-Type", "application/octet-stream")
	status := http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" && (r.Header.Get("If-Range") == "" || r.Header.Get("If-Range") == f.etag) {
		spec, _ := strings.CutPrefix(rg, "bytes=")
		a, _, _ := strings.Cut(spec, "-")
		n, err := strconv.ParseInt(a, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_parameter", "bad range")
			return
		}
		if n >= size {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", size))
			writeError(w, http.StatusRequestedRangeNotSatisfiable, "range_not_satisfiable", "range beyond the end")
			return
		}
		start, status = n, http.StatusPartialContent
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", n, size-1, size))
	}
	body := f.content[start:]
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if hasCut && cut < len(body) {
		_, _ = w.Write(body[:cut])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	_, _ = w.Write(body)
}

func (h *Hub) events(w http.ResponseWriter, r *http.Request, src string) {
	ch := make(chan int64, 8)
	h.mu.Lock()
	h.subs[ch] = src
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
		}
		h.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 50\n: connected to %s\n\n", src)
	w.(http.Flusher).Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case seq, ok := <-ch:
			if !ok {
				return
			}
			fmt.Fprintf(w, "id: %d\nevent: changes\ndata: {\"source\":%q,\"seq\":%d}\n\n", seq, src, seq)
			w.(http.Flusher).Flush()
		}
	}
}

func decodeStrict(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_body", err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, v any) {
	var b bytes.Buffer
	_ = json.NewEncoder(&b).Encode(v)
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json")
	}
	_, _ = w.Write(b.Bytes())
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}
