package emulator

import (
	"bytes"
	"io"
	"path"
	"sort"
	"strings"
	"time"
)

// node is a file or folder. Paths are keyed by their lower-case form, as
// Dropbox compares them.
type node struct {
	folder  bool
	id      string
	display string // path_display
	lower   string // path_lower

	// Files only.
	rev            string
	size           int64
	clientModified time.Time
	serverModified time.Time
	hash           string
	data           []byte     // content of a stored file (immutable once set)
	gen            *Generated // content of a generated file
}

func (n *node) name() string { return path.Base(n.display) }

// content returns a reader over the file's bytes; safe to use after the
// store's lock is released, as content is never changed in place.
func (n *node) content() io.ReadSeeker {
	if n.gen != nil {
		return io.NewSectionReader(n.gen, 0, n.gen.Size())
	}
	return bytes.NewReader(n.data)
}

// change is one entry of the change log: path lower changed at seq.
type change struct {
	seq   int64
	lower string
}

// tombstone remembers a deleted path, for deleted entries.
type tombstone struct {
	display string
	seq     int64
}

// store is the whole Dropbox: the tree, its change log and upload sessions.
// The Server's mutex guards it.
type store struct {
	nodes    map[string]*node // by path_lower; the root "" is implicit
	byID     map[string]*node
	tombs    map[string]tombstone
	log      []change
	seq      int64 // last change
	epoch    int64 // cursors of an older epoch are reset
	revs     int64
	sessions map[string]*session
}

func newStore() *store {
	return &store{nodes: map[string]*node{}, byID: map[string]*node{}, tombs: map[string]tombstone{},
		sessions: map[string]*session{}, epoch: 1}
}

// record appends a change of lower to the log.
func (st *store) record(lower string) int64 {
	st.seq++
	st.log = append(st.log, change{seq: st.seq, lower: lower})
	return st.seq
}

// parentOf returns the parent path ("" for a top-level entry).
func parentOf(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return ""
	}
	return p[:i]
}

// under reports whether p is dir or inside it ("" is the root).
func under(p, dir string) bool {
	return dir == "" || p == dir || strings.HasPrefix(p, dir+"/")
}

// inScope reports whether a listing of dir (recursive or not) covers p.
func inScope(p, dir string, recursive bool) bool {
	if recursive {
		return under(p, dir)
	}
	return parentOf(p) == dir
}

// displayFor builds the path_display of display: existing ancestors keep
// the case they were created with, new components the case given.
func (st *store) displayFor(display string) string {
	parts := strings.Split(strings.TrimPrefix(display, "/"), "/")
	out := ""
	for i, part := range parts {
		cand := out + "/" + part
		if i < len(parts)-1 {
			if n := st.nodes[strings.ToLower(cand)]; n != nil {
				cand = n.display
			}
		}
		out = cand
	}
	return out
}

// ensureFolders creates the missing ancestors of lower-case path p (and p
// itself when self) as folders; display gives their case. It reports the
// path of an ancestor that is a file, where no folder can be made.
func (st *store) ensureFolders(display string, self bool, newID func() string) (blocked string) {
	parts := strings.Split(strings.TrimPrefix(display, "/"), "/")
	if !self {
		parts = parts[:len(parts)-1]
	}
	cur := ""
	for _, part := range parts {
		cur += "/" + part
		lower := strings.ToLower(cur)
		if n := st.nodes[lower]; n != nil {
			if !n.folder {
				return n.display
			}
			cur = n.display
			continue
		}
		n := &node{folder: true, id: newID(), display: cur, lower: lower}
		st.put(n)
	}
	return ""
}

// put stores n (new or replacing the node at its path) and logs it.
func (st *store) put(n *node) {
	st.nodes[n.lower] = n
	st.byID[n.id] = n
	delete(st.tombs, n.lower)
	st.record(n.lower)
}

// remove deletes the node at lower and everything under it, logging one
// change for lower: Dropbox reports a folder's deletion once.
func (st *store) remove(lower string) *node {
	n := st.nodes[lower]
	if n == nil {
		return nil
	}
	seq := st.record(lower)
	for p, c := range st.nodes {
		if under(p, lower) {
			delete(st.nodes, p)
			delete(st.byID, c.id)
			st.tombs[p] = tombstone{display: c.display, seq: seq}
		}
	}
	return n
}

// move renames the node at from (and its subtree) to display, keeping ids:
// the old path is deleted and the new paths appear, as Dropbox reports it.
func (st *store) move(from, display string, newID func() string) bool {
	n := st.nodes[from]
	if n == nil {
		return false
	}
	var moved []*node
	for p, c := range st.nodes {
		if under(p, from) {
			moved = append(moved, c)
		}
	}
	sort.Slice(moved, func(i, j int) bool { return moved[i].lower < moved[j].lower })
	st.remove(from)
	if st.ensureFolders(display, false, newID) != "" {
		return false
	}
	newDisplay := st.displayFor(display)
	for _, c := range moved {
		cp := *c
		cp.display = newDisplay + c.display[len(n.display):]
		cp.lower = strings.ToLower(cp.display)
		st.put(&cp)
	}
	return true
}

// resolve finds the node a path argument names: a path or "id:...".
func (st *store) resolve(arg string) *node {
	if strings.HasPrefix(arg, "id:") {
		return st.byID[arg]
	}
	return st.nodes[strings.ToLower(arg)]
}

// entry is one listing entry: a node, or a deleted path.
type entry struct {
	n       *node
	display string // deleted entries
	lower   string
	seq     int64
}

// listing returns the entries a full listing of dir shows now, sorted by
// path_lower (parents before children), after the path after when set.
func (st *store) listing(dir string, recursive, deleted bool, after string) []entry {
	var out []entry
	for p, n := range st.nodes {
		if p > after && inScope(p, dir, recursive) && (p != dir || recursive) {
			out = append(out, entry{n: n, lower: p})
		}
	}
	if deleted {
		for p, t := range st.tombs {
			if p > after && inScope(p, dir, recursive) && p != dir {
				out = append(out, entry{display: t.display, lower: p, seq: t.seq})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].lower < out[j].lower })
	return out
}

// changes returns what changed in scope after seq, one entry per path in
// the order of their last change: the node as it is now, or a deleted
// entry. A deletion inside a folder deleted later in the same span is left
// out: the folder's entry covers it.
func (st *store) changes(dir string, recursive bool, since int64) []entry {
	i := sort.Search(len(st.log), func(i int) bool { return st.log[i].seq > since })
	last := map[string]int64{}
	for _, c := range st.log[i:] {
		if inScope(c.lower, dir, recursive) && (c.lower != dir || recursive) {
			last[c.lower] = c.seq
		}
	}
	var out []entry
	for p, seq := range last {
		if n := st.nodes[p]; n != nil {
			out = append(out, entry{n: n, lower: p, seq: seq})
		} else if t, ok := st.tombs[p]; ok {
			out = append(out, entry{display: t.display, lower: p, seq: seq})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	deletedAt := map[string]int64{}
	for _, e := range out {
		if e.n == nil {
			deletedAt[e.lower] = e.seq
		}
	}
	kept := out[:0]
	for _, e := range out {
		if e.n == nil && coveredBy(e, deletedAt) {
			continue
		}
		kept = append(kept, e)
	}
	return kept
}

// coveredBy reports whether an ancestor of deleted entry e was deleted at
// or after it.
func coveredBy(e entry, deletedAt map[string]int64) bool {
	for p := parentOf(e.lower); p != ""; p = parentOf(p) {
		if seq, ok := deletedAt[p]; ok && seq >= e.seq {
			return true
		}
	}
	return false
}

// session is an upload session's content so far.
type session struct {
	data   bytes.Buffer
	closed bool
}
