package emulator

import (
	"bytes"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
)

// ref is a stored lookup value: the target row's id and table.
type ref struct {
	id uuid.UUID
	t  *table
}

// row is one record. Rows are copy-on-write: an update stores a new *row, so
// the previous pointer stays valid for change-set rollback.
type row struct {
	id       uuid.UUID
	version  int64
	created  int64 // unix seconds
	modified int64
	vals     []any // by column.idx: string, int64, float64, bool, ref, uuid.UUID or nil
}

func (r *row) clone() *row {
	c := *r
	c.vals = slices.Clone(r.vals)
	return &c
}

// change is one entry of a table's change log: enough to answer a delta
// query (which id changed, at which version, created/updated or deleted).
type change struct {
	version int64
	at      int64
	id      uuid.UUID
	del     bool
}

// table holds the rows of one entity set plus the indexes paging and change
// tracking need.
type table struct {
	def  *entityDef
	rows map[uuid.UUID]*row
	// order is the sorted primary-key index used for stable paging; it may
	// hold ids that were deleted since (skipped on read). New ids go to
	// pending and are merged in lazily, so inserts stay O(1).
	order   []uuid.UUID
	pending []uuid.UUID
	stale   int
	log     []change
	logBase int64 // absolute sequence number of log[0]
	floor   int64 // changes at or below this version were trimmed from the log
	tombs   map[uuid.UUID]int64
	// indexed are the lookup columns whose targets can be deleted; the store
	// keeps a reverse index of them so a delete finds its dependants
	// without scanning.
	indexed []*column
}

func cmpID(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) }

func (t *table) dirty() bool {
	return len(t.pending) > 0 || (t.stale > 1024 && t.stale > len(t.order)/4)
}

// normalize merges pending ids into order and drops deleted ones.
func (t *table) normalize() {
	slices.SortFunc(t.pending, cmpID)
	merged := make([]uuid.UUID, 0, len(t.rows))
	i, j := 0, 0
	var last uuid.UUID
	have := false
	for i < len(t.order) || j < len(t.pending) {
		var x uuid.UUID
		switch {
		case j >= len(t.pending) || (i < len(t.order) && cmpID(t.order[i], t.pending[j]) <= 0):
			x = t.order[i]
			i++
		default:
			x = t.pending[j]
			j++
		}
		if have && x == last {
			continue
		}
		if _, ok := t.rows[x]; !ok {
			continue
		}
		merged = append(merged, x)
		last, have = x, true
	}
	t.order, t.pending, t.stale = merged, t.pending[:0], 0
}

// after returns the index in order of the first id greater than id.
func (t *table) after(id uuid.UUID) int {
	return sort.Search(len(t.order), func(i int) bool { return cmpID(t.order[i], id) > 0 })
}

// latest is the version of the newest change of id (0 if never seen).
func (t *table) latest(id uuid.UUID) int64 {
	if r := t.rows[id]; r != nil {
		return r.version
	}
	return t.tombs[id]
}

// firstAfter is the log index of the first change with a version above v.
func (t *table) firstAfter(v int64) int {
	return sort.Search(len(t.log), func(i int) bool { return t.log[i].version > v })
}

// value returns the stored value of c in r.
func (t *table) value(r *row, c *column) any {
	switch c.sys {
	case sysID:
		return r.id
	case sysCreated:
		return r.created
	case sysModified:
		return r.modified
	case sysVersion:
		return r.version
	}
	if c.idx < 0 {
		return nil
	}
	return r.vals[c.idx]
}

// store is the whole data set behind one mutex. The global version counter
// plays the role of SQL rowversion: every write takes the next number.
type store struct {
	mu      sync.RWMutex
	version int64
	refs    map[uuid.UUID][]backRef // target id -> rows whose indexed lookup points to it
	tables  map[string]*table       // by entity set name
	logical map[string]*table       // by logical name
	list    []*table
	now     func() time.Time
	ttl     time.Duration
}

func newStore(defs []*entityDef, now func() time.Time, ttl time.Duration) *store {
	st := &store{tables: map[string]*table{}, logical: map[string]*table{}, now: now, ttl: ttl, version: 1000000,
		refs: map[uuid.UUID][]backRef{}}
	for _, d := range defs {
		t := &table{def: d, rows: map[uuid.UUID]*row{}, tombs: map[uuid.UUID]int64{}}
		for _, c := range d.cols {
			if c.idx >= 0 && c.isLookup() && c.typ != tOwner && slices.ContainsFunc(c.targets, deletable) {
				t.indexed = append(t.indexed, c)
			}
		}
		st.tables[d.set] = t
		st.logical[d.logical] = t
		st.list = append(st.list, t)
	}
	return st
}

// deletable reports whether rows of the table can be deleted through the API
// (users and business units cannot).
func deletable(logical string) bool { return logical != "systemuser" && logical != "businessunit" }

// backRef names a row whose lookup column points at some target.
type backRef struct {
	t   *table
	col *column
	id  uuid.UUID
}

// reindex updates the reverse lookup index for a row going from old to nw
// (either may be nil).
func (st *store) reindex(t *table, old, nw *row) {
	for _, c := range t.indexed {
		var ov, nv ref
		var oOK, nOK bool
		if old != nil {
			ov, oOK = old.vals[c.idx].(ref)
		}
		if nw != nil {
			nv, nOK = nw.vals[c.idx].(ref)
		}
		if oOK == nOK && ov == nv {
			continue
		}
		if oOK {
			list := st.refs[ov.id]
			for i, b := range list {
				if b.t == t && b.col == c && b.id == old.id {
					list[i] = list[len(list)-1]
					list = list[:len(list)-1]
					break
				}
			}
			if len(list) == 0 {
				delete(st.refs, ov.id)
			} else {
				st.refs[ov.id] = list
			}
		}
		if nOK {
			st.refs[nv.id] = append(st.refs[nv.id], backRef{t: t, col: c, id: nw.id})
		}
	}
}

// rlock takes the read lock, first normalizing dirty indexes under the write
// lock. The returned function releases whichever lock is held.
func (st *store) rlock() func() {
	st.mu.RLock()
	clean := true
	for _, t := range st.list {
		if t.dirty() {
			clean = false
			break
		}
	}
	if clean {
		return st.mu.RUnlock
	}
	st.mu.RUnlock()
	st.mu.Lock()
	for _, t := range st.list {
		if t.dirty() {
			t.normalize()
		}
	}
	return st.mu.Unlock
}

// txn records what a change set did so it can be undone.
type txn struct {
	undo []undoRec
}

type undoRec struct {
	t       *table
	id      uuid.UUID
	prev    *row
	tomb    int64
	hadTomb bool
	logLen  int
}

func (st *store) record(tx *txn, t *table, id uuid.UUID) {
	if tx == nil {
		return
	}
	tomb, had := t.tombs[id]
	tx.undo = append(tx.undo, undoRec{t: t, id: id, prev: t.rows[id], tomb: tomb, hadTomb: had, logLen: len(t.log)})
}

// save stores r under a fresh version and logs the change. log=false is
// used only for the initial seed, which no delta token can predate.
func (st *store) save(tx *txn, t *table, r *row, log bool) {
	st.record(tx, t, r.id)
	prev := t.rows[r.id]
	st.version++
	r.version = st.version
	st.reindex(t, prev, r)
	t.rows[r.id] = r
	if prev == nil {
		t.pending = append(t.pending, r.id)
	}
	delete(t.tombs, r.id)
	if log {
		st.appendLog(tx, t, change{version: r.version, at: st.now().Unix(), id: r.id})
	}
}

// remove deletes id and logs a tombstone.
func (st *store) remove(tx *txn, t *table, id uuid.UUID) bool {
	if t.rows[id] == nil {
		return false
	}
	st.record(tx, t, id)
	st.version++
	st.reindex(t, t.rows[id], nil)
	delete(t.rows, id)
	t.stale++
	t.tombs[id] = st.version
	st.appendLog(tx, t, change{version: st.version, at: st.now().Unix(), id: id, del: true})
	return true
}

func (st *store) appendLog(tx *txn, t *table, c change) {
	t.log = append(t.log, c)
	if tx != nil || len(t.log) < 4096 {
		return
	}
	// Forget changes older than the delta-token lifetime; tokens below the
	// new floor are answered with ExpiredVersionStamp.
	limit := st.now().Add(-st.ttl).Unix()
	cut := sort.Search(len(t.log), func(i int) bool { return t.log[i].at >= limit })
	if cut < len(t.log)/4 {
		return
	}
	t.floor = t.log[cut-1].version
	for id, v := range t.tombs {
		if v <= t.floor {
			delete(t.tombs, id)
		}
	}
	t.log = append([]change(nil), t.log[cut:]...)
	t.logBase += int64(cut)
}

// rollback undoes a failed change set in reverse order.
func (st *store) rollback(tx *txn) {
	for i := len(tx.undo) - 1; i >= 0; i-- {
		u := tx.undo[i]
		t := u.t
		cur := t.rows[u.id]
		st.reindex(t, cur, u.prev)
		switch {
		case u.prev == nil && cur != nil:
			delete(t.rows, u.id)
			t.stale++
		case u.prev != nil:
			t.rows[u.id] = u.prev
			if cur == nil {
				t.pending = append(t.pending, u.id)
			}
		}
		if u.hadTomb {
			t.tombs[u.id] = u.tomb
		} else {
			delete(t.tombs, u.id)
		}
		t.log = t.log[:u.logLen]
	}
	tx.undo = nil
}
