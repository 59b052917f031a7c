package pgnotify

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
)

// maxPayload is the largest NOTIFY payload PostgreSQL accepts by default:
// it must be shorter than 8000 bytes.
const maxPayload = 7999

// notice is one NOTIFY payload: source committed changes up to Seq in
// Partitions, or, with All, in partitions too many or too long to name (the
// receiver wakes every subscriber of the source). Origin is the sending
// instance, which skips its own notices: it already published them locally.
type notice struct {
	Origin     string   `json:"origin"`
	Source     string   `json:"source"`
	Seq        int64    `json:"seq"`
	Partitions []string `json:"partitions,omitempty"`
	All        bool     `json:"all,omitempty"`
}

// channelFor is the NOTIFY channel of a database schema. Hubs on different
// schemas of one database are separate deployments (tests run that way), so
// they must not hear each other; the hash keeps any schema name within
// PostgreSQL's 63-byte identifier limit and in lower case, which LISTEN and
// pg_notify then agree on.
func channelFor(schema string) string {
	h := fnv.New64a()
	h.Write([]byte("synchub\x00" + schema))
	return fmt.Sprintf("synchub_changes_%016x", h.Sum64())
}

// encode turns one source's pending change into payloads of at most
// maxPayload bytes each: the partitions are split over as many notices as
// they need. A partition too long to fit in a notice of its own is carried
// by one source-wide notice instead (All), so nothing is ever dropped.
func encode(origin, source string, seq int64, partitions []string) ([]string, error) {
	base := notice{Origin: origin, Source: source, Seq: seq}
	empty, err := json.Marshal(base)
	if err != nil {
		return nil, err
	}
	// The partitions field adds `,"partitions":[]` before the closing brace;
	// each partition adds its JSON string and a comma.
	const field = len(`,"partitions":[]`)
	room := maxPayload - len(empty) - field
	var (
		out     []string
		batch   []string
		size    int
		tooLong bool
	)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n := base
		n.Partitions = batch
		b, err := json.Marshal(n)
		if err != nil {
			return err
		}
		out = append(out, string(b))
		batch, size = nil, 0
		return nil
	}
	for _, p := range partitions {
		pj, err := json.Marshal(p)
		if err != nil {
			return nil, err
		}
		cost := len(pj)
		if len(batch) > 0 {
			cost++ // the comma
		}
		if len(pj) > room {
			tooLong = true
			continue
		}
		if size+cost > room {
			if err := flush(); err != nil {
				return nil, err
			}
			cost = len(pj)
		}
		batch = append(batch, p)
		size += cost
	}
	if err := flush(); err != nil {
		return nil, err
	}
	if tooLong {
		n := base
		n.All = true
		b, err := json.Marshal(n)
		if err != nil {
			return nil, err
		}
		if len(b) > maxPayload {
			return nil, fmt.Errorf("a notice for source %q does not fit in %d bytes", source, maxPayload)
		}
		out = append(out, string(b))
	}
	return out, nil
}

// decode reads a payload; a notice without a source is malformed.
func decode(payload string) (notice, error) {
	var n notice
	if err := json.Unmarshal([]byte(payload), &n); err != nil {
		return notice{}, fmt.Errorf("decode change notice: %w", err)
	}
	if n.Source == "" || n.Origin == "" {
		return notice{}, fmt.Errorf("decode change notice: no source or origin in %.200q", payload)
	}
	return n, nil
}
