package emulator

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// User is a systemuser as Users reports it.
type User struct {
	SystemUserID   string `json:"systemuserid"`
	FullName       string `json:"fullname"`
	DomainName     string `json:"domainname"`
	Email          string `json:"internalemailaddress,omitempty"`
	BusinessUnitID string `json:"businessunitid"`
}

// Users lists the human systemusers that own the seeded data, followed by
// the application user the client credentials act as (see WhoAmI).
func (s *Server) Users() []User {
	unlock := s.st.rlock()
	defer unlock()
	t := s.st.tables["systemusers"]
	ids := append(slices.Clone(s.humans), s.appUser)
	out := make([]User, 0, len(ids))
	for _, id := range ids {
		r := t.rows[id]
		if r == nil {
			continue
		}
		f := s.fieldsOf(t, r)
		out = append(out, User{
			SystemUserID: id.String(), FullName: fmt.Sprint(f["fullname"]),
			DomainName: fmt.Sprint(f["domainname"]), BusinessUnitID: fmt.Sprint(f["_businessunitid_value"]),
		})
		if email, ok := f["internalemailaddress"].(string); ok {
			out[len(out)-1].Email = email
		}
	}
	return out
}

// Upsert edits a row server-side (as a user of the CRM would): it creates
// the row when id is new, bumps its version and records the change for
// change tracking. fields use Web API names ("name", "revenue"); lookups
// take a GUID string under "_ownerid_value" or "ownerid", or an
// "ownerid@odata.bind" reference. It returns the new @odata.etag, or ""
// when the entity set, id or a field is invalid (the reason is logged).
func (s *Server) Upsert(entitySet, id string, fields map[string]any) string {
	t := s.st.tables[entitySet]
	uid, err := uuid.Parse(id)
	if t == nil || err != nil {
		s.log.Warn("upsert: unknown entity set or bad id", "set", entitySet, "id", id)
		return ""
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	prev := t.rows[uid]
	create := prev == nil
	ws := &writeSet{vals: map[*column]any{}, binds: map[*column]*bindTarget{}}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := fields[k]
		if nav, ok := strings.CutSuffix(k, "@odata.bind"); ok {
			nr, known := t.def.navs[nav]
			sv, isStr := v.(string)
			if !known || !isStr {
				s.log.Warn("upsert: bad bind", "field", k)
				return ""
			}
			bt, berr := s.parseBind(&opCtx{}, t.def.set, nav, nr, sv)
			if berr != nil {
				s.log.Warn("upsert: bad bind", "field", k, "error", berr.message)
				return ""
			}
			ws.binds[nr.col] = bt
			continue
		}
		c := t.def.byProp[k]
		if c == nil {
			c = t.def.byName[k]
		}
		if c == nil || c.prop == "" || c.sys != sysNone {
			if c != nil && c.sys == sysID {
				continue
			}
			s.log.Warn("upsert: unknown or read-only field", "set", entitySet, "field", k)
			return ""
		}
		if c.isLookup() {
			bt := s.lookupTarget(c, v)
			if bt == nil {
				s.log.Warn("upsert: lookup target not found", "field", k, "value", v)
				return ""
			}
			ws.binds[c] = bt
			continue
		}
		sv, cerr := s.convertValue(t, c, jsonish(v))
		if cerr != nil {
			s.log.Warn("upsert: invalid value", "field", k, "error", cerr.message)
			return ""
		}
		ws.vals[c] = sv
	}
	var r *row
	now := s.now().Unix()
	if create {
		r = s.newRow(t, uid, now)
	} else {
		r = prev.clone()
		r.modified = now
	}
	if aerr := s.apply(t, r, ws, create); aerr != nil {
		s.log.Warn("upsert: rejected", "error", aerr.message)
		return ""
	}
	s.st.save(nil, t, r, true)
	return etagOf(r)
}

// lookupTarget finds the row a GUID names among the lookup's targets.
func (s *Server) lookupTarget(c *column, v any) *bindTarget {
	if v == nil {
		if c.required == "SystemRequired" {
			return nil
		}
		return &bindTarget{}
	}
	sv, _ := v.(string)
	id, err := uuid.Parse(sv)
	if err != nil {
		return nil
	}
	for _, target := range c.targets {
		if tt := s.st.logical[target]; tt != nil && tt.rows[id] != nil {
			return &bindTarget{t: tt, id: id}
		}
	}
	return nil
}

// jsonish turns Go numbers into json.Number so convertValue sees what the
// JSON decoder would produce.
func jsonish(v any) any {
	switch x := v.(type) {
	case int, int32, int64, uint, uint32, uint64:
		return json.Number(fmt.Sprint(x))
	case float32, float64:
		return json.Number(fmt.Sprint(x))
	}
	return v
}

// Delete removes a row server-side (with the cascade the service applies)
// and records the deletion for change tracking.
func (s *Server) Delete(entitySet, id string) bool {
	t := s.st.tables[entitySet]
	uid, err := uuid.Parse(id)
	if t == nil || err != nil {
		return false
	}
	s.st.mu.Lock()
	defer s.st.mu.Unlock()
	if t.rows[uid] == nil {
		return false
	}
	s.deleteCascade(nil, t, uid)
	return true
}

// Get returns the current row with every Web API property and @odata.etag.
func (s *Server) Get(entitySet, id string) (map[string]any, bool) {
	t := s.st.tables[entitySet]
	uid, err := uuid.Parse(id)
	if t == nil || err != nil {
		return nil, false
	}
	unlock := s.st.rlock()
	defer unlock()
	r := t.rows[uid]
	if r == nil {
		return nil, false
	}
	return s.fieldsOf(t, r), true
}

// Count is the number of rows in entitySet.
func (s *Server) Count(entitySet string) int {
	t := s.st.tables[entitySet]
	if t == nil {
		return 0
	}
	unlock := s.st.rlock()
	defer unlock()
	return len(t.rows)
}

// IDs lists the primary keys of entitySet in paging order.
func (s *Server) IDs(entitySet string) []string {
	t := s.st.tables[entitySet]
	if t == nil {
		return nil
	}
	unlock := s.st.rlock()
	defer unlock()
	out := make([]string, 0, len(t.rows))
	for _, id := range t.order {
		if t.rows[id] != nil {
			out = append(out, id.String())
		}
	}
	return out
}
