package emulator

import (
	"net/http"
)

// Change tracking. The initial GET with Prefer: odata.track-changes is the
// normal paged listing whose last page carries @odata.deltaLink (see list).
// GET of a deltaLink answers the changes after the token's version up to the
// version current when the delta started ("to", kept in the paging cookie):
// created/updated rows first in version order, then $deletedEntity entries.
//
// The answer comes from the table's change log. A log entry is reported only
// if it is the newest change of its id, so a record changed several times
// shows once, a record created and deleted shows as deleted, and a record
// changed again after "to" is left for the next delta (its newer entry lies
// beyond "to").

func expiredToken() *apiError {
	return newErr(http.StatusBadRequest, codeExpiredVersion, "Version stamp associated with the client has expired. Please perform a full sync.")
}

func (s *Server) delta(req *apiRequest, t *table) (*apiResponse, *apiError) {
	cols, names, err := parseSelect(t, req.query.Get("$select"))
	if err != nil {
		return nil, err
	}
	tok := req.query.Get("$deltatoken")
	from, at, ok := parseDeltaToken(tok)
	if !ok {
		return nil, newErr(http.StatusBadRequest, codeQuery, "The $deltatoken value '%s' is not valid.", tok)
	}
	if s.now().Sub(at) > s.opts.DeltaTokenTTL {
		return nil, expiredToken()
	}
	var cookie *pageCookie
	if st := req.query.Get("$skiptoken"); st != "" {
		c, cerr := decodeCookie(st, t.def.pk)
		if cerr != nil || c.phase == 0 {
			return nil, badSkipToken()
		}
		cookie = &c
	}
	limit, applied := s.opts.MaxPageSize, req.pref.maxPageSize > 0
	if applied {
		limit = min(req.pref.maxPageSize, s.opts.MaxPageSize)
	}

	unlock := s.st.rlock()
	defer unlock()
	if from < t.floor || from > s.st.version {
		return nil, expiredToken()
	}
	start := t.firstAfter(from)
	to, phase, idx, page := s.st.version, 1, start, 1
	if cookie != nil {
		to, phase, page = cookie.to, cookie.phase, cookie.page+1
		idx = int(cookie.seq - t.logBase)
		if idx < 0 || phase > 2 {
			return nil, expiredToken()
		}
	}
	deleted := req.api() + "/$metadata#" + t.def.set + "/$deletedEntity"
	items := []obj{}
	more := false
	for {
		if idx >= len(t.log) || t.log[idx].version > to {
			if phase == 1 {
				phase, idx = 2, start
				continue
			}
			break
		}
		e := t.log[idx]
		if t.latest(e.id) == e.version && e.del == (phase == 2) {
			if len(items) == limit {
				more = true
				break
			}
			if e.del {
				items = append(items, obj{{"@odata.context", deleted}, {"id", e.id.String()}, {"reason", "deleted"}})
			} else {
				items = append(items, s.rowObj(t, t.rows[e.id], cols, req.pref))
			}
		}
		idx++
	}
	body := obj{{"@odata.context", contextURL(req, t.def.set, names) + "/$delta"}}
	if !more {
		parts := append(linkQuery(req.rawQ, "$skiptoken", "$deltatoken"), "$deltatoken="+encodeDeltaToken(to, s.now()))
		body = append(body, kv{"@odata.deltaLink", buildLink(req.api(), t.def.set, parts)})
	}
	body = append(body, kv{"value", items})
	if more {
		next := pageCookie{page: page, tracking: true, phase: phase, seq: t.logBase + int64(idx), to: to}
		parts := append(linkQuery(req.rawQ, "$skiptoken"), "$skiptoken="+next.encode(t.def.pk))
		body = append(body, kv{"@odata.nextLink", buildLink(req.api(), t.def.set, parts)})
	}
	resp := jsonResponse(http.StatusOK, body)
	setPreferenceApplied(resp, req.pref, applied, limit, req.pref.trackChanges)
	return resp, nil
}
