package push

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

// The conflict policies (config entity.conflict and entity.tie_break).
const (
	policyServerWins     = "server_wins"
	policyDeviceWins     = "device_wins"
	policyDeviceWinsFull = "device_wins_full"
	policyLastWriteWins  = "last_write_wins"
	policyUserDecides    = "user_decides"
	policyMerge          = "merge"
)

// maxResends bounds how often a conflict resolution re-sends one device
// edit (a record that keeps changing on the server ends as a conflict).
const maxResends = 3

// situation is what a device's op met on the back end.
type situation int

const (
	// stale: an update or delete met a newer version (a conflict).
	stale situation = iota
	// gone: an update met no record (deleted on the server).
	gone
	// taken: a create met an existing record with the same id.
	taken
)

// conflictInput is everything a conflict decision reads.
type conflictInput struct {
	Policy, TieBreak string
	// Owners maps a field to "server" or "device".
	Owners map[string]string
	// Kind is the device's op.
	Kind sdk.OpKind
	Sit  situation
	// Device holds the device's fields (changed fields; all for a create).
	Device map[string]any
	// Base holds the fields at the device's base version; nil when the hub
	// does not know them. A create's base is empty: nothing existed.
	Base map[string]any
	// Server is the server's record (nil when gone).
	Server     *sdk.Record
	ClientTime *time.Time
	// Forced: the device resolved a sync error keep_mine.
	Forced bool
	// Writable says which fields a device may write.
	Writable func(string) bool
}

// verdict is a conflict decision: re-send (Resend) or fail with Status.
type verdict struct {
	Resend      bool
	Kind        sdk.OpKind
	Fields      map[string]any
	BaseVersion string
	// Lost lists the device's fields whose value lost (sorted).
	Lost []string
	// Status (conflict or not_found) and Park describe a failure.
	Status string
	Park   bool
	// Conflicting lists the fields both sides changed (sorted).
	Conflicting []string
	Reason      string
}

// winner is a policy's decision for a whole record or one field.
type winner int

const (
	serverWins winner = iota
	deviceWins
	ask
)

// decide resolves a conflict by the entity's policy and field owners. It
// is pure: every policy × situation is a table test.
func decide(in conflictInput) verdict {
	policy := in.Policy
	if policy == "" {
		policy = policyServerWins
	}
	tie := in.TieBreak
	if tie == "" || tie == policyMerge {
		tie = policyServerWins
	}
	if in.Sit == gone {
		return decideGone(in, policy, tie)
	}
	if in.Kind == sdk.OpDelete {
		pol := policy
		if pol == policyMerge {
			pol = tie // a delete has no fields to merge
		}
		switch recordWinner(in, pol) {
		case deviceWins:
			return verdict{Resend: true, Kind: sdk.OpDelete, Reason: fmt.Sprintf("the delete wins (%s)", pol)}
		case ask:
			return verdict{Status: store.MutationConflict, Park: true,
				Reason: "the record changed on the server since the device's version; waiting for your decision (user_decides)"}
		}
		return verdict{Status: store.MutationConflict,
			Reason: fmt.Sprintf("the record changed on the server since the device's version; the server's record is kept (%s)", pol)}
	}

	server := map[string]any{}
	serverVersion := ""
	if in.Server != nil {
		server = in.Server.Fields
		serverVersion = in.Server.Version
	}
	base := in.Base
	if in.Kind == sdk.OpCreate {
		base = map[string]any{}
	}
	var conflicting []string
	for _, f := range sortedKeys(in.Device) {
		if equalJSON(server[f], in.Device[f]) {
			continue
		}
		if base == nil || !equalJSON(server[f], base[f]) {
			conflicting = append(conflicting, f)
		}
	}

	decision := map[string]winner{}
	var pol string
	merging := policy == policyMerge && base != nil
	if merging {
		pol = tie
		w := recordWinner(in, tie)
		for f := range in.Device {
			switch {
			case in.Owners[f] == "device":
				decision[f] = deviceWins
			case !slices.Contains(conflicting, f):
				decision[f] = deviceWins // a disjoint edit merges
			case in.Owners[f] == "server":
				decision[f] = serverWins
			default:
				decision[f] = w
			}
		}
	} else {
		pol = policy
		if pol == policyMerge {
			pol = tie // no base known: nothing to merge against
		}
		w := recordWinner(in, pol)
		for f := range in.Device {
			switch {
			case in.Owners[f] == "device":
				decision[f] = deviceWins
			case in.Owners[f] == "server" && slices.Contains(conflicting, f):
				decision[f] = serverWins
			default:
				decision[f] = w
			}
		}
	}

	send := map[string]any{}
	var lost []string
	parked := false
	for _, f := range sortedKeys(in.Device) {
		switch decision[f] {
		case deviceWins:
			send[f] = in.Device[f]
		case serverWins:
			if !equalJSON(server[f], in.Device[f]) {
				lost = append(lost, f)
			}
		case ask:
			parked = true
		}
	}
	if parked {
		return verdict{Status: store.MutationConflict, Park: true, Conflicting: conflicting,
			Reason: "the record changed on the server since the device's version; waiting for your decision (user_decides)"}
	}
	// device_wins_full sends the device's whole record: its base with its
	// changes over it, so fields the server changed meanwhile revert too.
	if !merging && pol == policyDeviceWinsFull && base != nil && recordWinner(in, pol) == deviceWins {
		for f, v := range base {
			if _, ok := in.Device[f]; !ok && in.Writable(f) && !(in.Owners[f] == "server") {
				send[f] = v
			}
		}
	}
	if len(send) == 0 {
		what := "the server's record is kept"
		if in.Kind == sdk.OpCreate {
			what = "a record with this id exists on the server and is kept"
		}
		return verdict{Status: store.MutationConflict, Conflicting: conflicting, Lost: lost,
			Reason: fmt.Sprintf("the record changed on the server since the device's version; %s (%s)", what, pol)}
	}
	v := verdict{Resend: true, Kind: sdk.OpUpdate, Fields: send, Lost: lost, Conflicting: conflicting}
	if merging {
		// Disjoint edits go out against the server's current version: if
		// it moves again, the merge runs again.
		v.BaseVersion = serverVersion
		v.Reason = "merged with the server's changes"
	} else {
		v.Reason = fmt.Sprintf("the device's changes win (%s)", pol)
	}
	if in.Forced {
		v.BaseVersion = ""
	}
	if len(lost) > 0 {
		v.Reason = fmt.Sprintf("the server's values of %s were kept (%s)", strings.Join(lost, ", "), pol)
	}
	return v
}

// decideGone: the device's update met a record deleted on the server. Only
// a whole-record policy can bring it back (device_wins_full, or the
// device's keep_mine): changed fields alone do not make a record.
func decideGone(in conflictInput, policy, tie string) verdict {
	pol := policy
	if pol == policyMerge {
		pol = tie
	}
	if in.Forced || pol == policyDeviceWinsFull {
		full := map[string]any{}
		for f, v := range in.Base {
			if in.Writable(f) {
				full[f] = v
			}
		}
		maps.Copy(full, in.Device)
		if in.Base != nil || in.Forced {
			return verdict{Resend: true, Kind: sdk.OpCreate, Fields: full,
				Reason: fmt.Sprintf("the record was deleted on the server and is created again (%s)", pol)}
		}
	}
	return verdict{Status: store.MutationNotFound, Park: pol == policyUserDecides,
		Reason: "the record was deleted on the server"}
}

// recordWinner is a policy's decision for the record as a whole.
func recordWinner(in conflictInput, policy string) winner {
	if in.Forced {
		return deviceWins
	}
	switch policy {
	case policyDeviceWins, policyDeviceWinsFull:
		return deviceWins
	case policyUserDecides:
		return ask
	case policyLastWriteWins:
		if in.ClientTime != nil && in.Server != nil && !in.Server.ModifiedAt.IsZero() && in.ClientTime.After(in.Server.ModifiedAt) {
			return deviceWins
		}
	}
	return serverWins
}

// equalJSON compares two JSON values as JSON (1 equals 1.0, key order does
// not matter).
func equalJSON(a, b any) bool {
	na, ea := normalizeJSON(a)
	nb, eb := normalizeJSON(b)
	if ea != nil || eb != nil {
		return false
	}
	return reflect.DeepEqual(na, nb)
}

func normalizeJSON(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(raw, &out)
	return out, err
}

// subset reports whether every field of want has the same value in have.
func subset(want, have map[string]any) bool {
	for k, v := range want {
		if !equalJSON(v, have[k]) {
			return false
		}
	}
	return true
}
