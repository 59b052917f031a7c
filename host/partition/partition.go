// Package partition turns the config's partition_by rules into partition
// names: the one partition a record belongs to (Of) and the set a user
// subscribes to (ForUser). The pull stage places records with Of; the API
// computes a device's subscription with ForUser; both must agree, which is
// why they live together.
//
// A partition name is "<entity>/*" for a rule "*", else
// "<entity>/<attr>=<value>" with attr "owner" for the owner rule and the
// identity attribute's name otherwise. Values are lowercased, so a GUID
// written in upper case by one system and lower case by another never
// splits a partition. A record whose partition field is missing, null or
// empty is in no partition: it is mirrored but no device receives it.
//
// The package must not know about storage, connectors or HTTP.
package partition

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/sdk"
)

// Of returns the partition a record of entity with fields falls in under
// rule, or "" when it is in none.
func Of(rule config.PartitionRule, entity string, fields map[string]any) string {
	if rule.All {
		return All(entity)
	}
	if rule.Field == "" || rule.Attr == "" {
		return ""
	}
	v, ok := Value(fields[rule.Field])
	if !ok {
		return ""
	}
	return Name(entity, rule.Attr, v)
}

// ForUser returns the partitions of src's entities that a user with the
// given identity on src sees, in the order of the entities. A nil identity
// (the user has none on this source) sees only the entities partitioned by
// "*".
func ForUser(src *config.Source, id *config.Identity) []string {
	var out []string
	for _, e := range src.Entities {
		r := e.Partition
		switch {
		case r.All:
			out = append(out, All(e.Name))
		case id == nil || r.Attr == "":
		case r.Attr == "owner":
			if v, ok := Value(id.ID); ok {
				out = append(out, Name(e.Name, r.Attr, v))
			}
		default:
			if v, ok := Value(id.Attributes[r.Attr]); ok {
				out = append(out, Name(e.Name, r.Attr, v))
			}
		}
	}
	return out
}

// All is the partition of an entity everyone sees.
func All(entity string) string { return entity + "/*" }

// Name builds "<entity>/<attr>=<value>"; value must already be normalized
// (see Value).
func Name(entity, attr, value string) string { return entity + "/" + attr + "=" + value }

// Entity returns the entity part of a partition name.
func Entity(partition string) string {
	e, _, _ := strings.Cut(partition, "/")
	return e
}

// Value normalizes a field or identity value for a partition name: strings
// lowercased, a lookup {"entity", "id"} (or sdk.Ref) by its id, numbers and
// booleans as text. Missing, null, empty and other values give false.
func Value(v any) (string, bool) {
	var s string
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		s = x
	case sdk.Ref:
		s = x.ID
	case *sdk.Ref:
		if x == nil {
			return "", false
		}
		s = x.ID
	case map[string]any:
		id, ok := x["id"]
		if !ok {
			return "", false
		}
		if _, nested := id.(map[string]any); nested {
			return "", false
		}
		return Value(id)
	case json.Number:
		s = x.String()
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case int:
		s = strconv.Itoa(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	case bool:
		s = strconv.FormatBool(x)
	default:
		return "", false
	}
	if s == "" {
		return "", false
	}
	return strings.ToLower(s), true
}
