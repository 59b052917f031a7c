package emulator

import (
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

const (
	annFormatted = "OData.Community.Display.V1.FormattedValue"
	annLogical   = "Microsoft.Dynamics.CRM.lookuplogicalname"
	annNav       = "Microsoft.Dynamics.CRM.associatednavigationproperty"
)

// wireTime is the Web API datetime format (UTC, second precision).
func wireTime(unix int64) string { return time.Unix(unix, 0).UTC().Format("2006-01-02T15:04:05Z") }

// wireValue converts a stored value to its JSON form.
func wireValue(c *column, v any) any {
	switch x := v.(type) {
	case uuid.UUID:
		return x.String()
	case ref:
		return x.id.String()
	case int64:
		if c.typ == tDateTime {
			return wireTime(x)
		}
		return x
	}
	return v
}

// rowObj renders r with the selected columns: @odata.etag first, property
// annotations before their property, the primary key last when not selected
// (the shape of the documented responses).
func (s *Server) rowObj(t *table, r *row, cols []*column, p prefer) obj {
	o := make(obj, 0, len(cols)*2+2)
	o = append(o, kv{"@odata.etag", etagOf(r)})
	pkDone := false
	fmtOn, lookOn, navOn := p.wants(annFormatted), p.wants(annLogical), p.wants(annNav)
	for _, c := range cols {
		if c.sys == sysID {
			pkDone = true
		}
		v := t.value(r, c)
		if v != nil {
			if fmtOn {
				if f, ok := s.formatted(c, v); ok {
					o = append(o, kv{c.prop + "@" + annFormatted, f})
				}
			}
			if rf, ok := v.(ref); ok {
				if navOn {
					if nav := c.navs[rf.t.def.logical]; nav != "" {
						o = append(o, kv{c.prop + "@" + annNav, nav})
					}
				}
				if lookOn {
					o = append(o, kv{c.prop + "@" + annLogical, rf.t.def.logical})
				}
			}
		}
		o = append(o, kv{c.prop, wireValue(c, v)})
	}
	if !pkDone {
		o = append(o, kv{t.def.pk, r.id.String()})
	}
	return o
}

// formatted is the OData.Community.Display.V1.FormattedValue of v (en-US).
func (s *Server) formatted(c *column, v any) (string, bool) {
	switch c.typ {
	case tMoney:
		f, _ := v.(float64)
		return money(f), true
	case tInteger:
		n, _ := v.(int64)
		return groupDigits(strconv.FormatInt(n, 10)), true
	case tDecimal:
		f, _ := v.(float64)
		return strconv.FormatFloat(f, 'f', 2, 64), true
	case tDateTime:
		n, _ := v.(int64)
		return time.Unix(n, 0).UTC().Format("1/2/2006 3:04 PM"), true
	case tBoolean:
		if b, _ := v.(bool); b {
			return "Yes", true
		}
		return "No", true
	case tState, tStatus, tPicklist:
		n, _ := v.(int64)
		return c.optionLabel(n)
	case tEntityName:
		name, _ := v.(string)
		if t := s.st.logical[name]; t != nil {
			return t.def.display, true
		}
		return name, true
	case tLookup, tOwner, tCustomer:
		rf, ok := v.(ref)
		if !ok {
			return "", false
		}
		target := rf.t.rows[rf.id]
		if target == nil {
			return "", false
		}
		name, _ := rf.t.value(target, rf.t.def.byName[rf.t.def.primaryName]).(string)
		return name, true
	}
	return "", false
}

func money(f float64) string {
	sign := ""
	if f < 0 {
		sign, f = "-", -f
	}
	s := strconv.FormatFloat(f, 'f', 2, 64)
	whole, frac, _ := strings.Cut(s, ".")
	return sign + "$" + groupDigits(whole) + "." + frac
}

func groupDigits(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// fieldsOf renders every property of r as a plain map (the Get hook and the
// admin API).
func (s *Server) fieldsOf(t *table, r *row) map[string]any {
	m := map[string]any{"@odata.etag": etagOf(r)}
	for _, c := range t.def.cols {
		if c.prop == "" {
			continue
		}
		m[c.prop] = wireValue(c, t.value(r, c))
	}
	return m
}
