package push

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/pull"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/sdktest/memconn"
)

var (
	faultTrials   = flag.Int("push.trials", 1000, "randomized trials of TestFaults on SQLite")
	faultPGTrials = flag.Int("push.pgtrials", 40, "randomized trials of TestFaults on PostgreSQL")
	faultSeed     = flag.Uint64("push.seed", 0, "base seed of TestFaults (0: from the clock; logged)")
	faultSteps    = flag.Int("push.steps", 4, "one more than the most steps (uploads, faults, pushes) of one TestFaults trial")
)

// TestFaults runs randomized trials of a device uploading edits (creates,
// updates, deletes, parents with children, atomic groups) to a back end
// that fails, throttles, applies and then loses its answer, keys creates
// itself, and changes records on its own, while the hub is killed between
// an Upload and the commit of its results and restarted. After each trial
// it asserts: every accepted mutation is applied exactly once (no effect
// reaches the back end twice) and none is lost (the back end holds exactly
// what the device wrote); the mirror equals the back end; and what the
// device downloads equals the back end, with every applied mutation
// reported to it.
func TestFaults(t *testing.T) {
	seed := *faultSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("base seed %d (rerun with -push.seed=%d)", seed, seed)
	t.Run("sqlite", func(t *testing.T) {
		workers := max(runtime.GOMAXPROCS(0), 2)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		next := make(chan int)
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// One in-memory database per worker; trials use sources of
				// their own in it.
				s, err := store.Open(context.Background(), store.Options{Path: ":memory:", Logger: storetest.Logger(t)})
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					for range next {
					}
					return
				}
				defer s.Close()
				for i := range next {
					if msg := runTrial(t, s, seed+uint64(i), i); msg != "" {
						mu.Lock()
						failures = append(failures, msg)
						mu.Unlock()
					}
				}
			}()
		}
		for i := range *faultTrials {
			mu.Lock()
			stop := len(failures) >= 3
			mu.Unlock()
			if stop {
				break
			}
			next <- i
		}
		close(next)
		wg.Wait()
		for _, f := range failures {
			t.Error(f)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		s := storetest.Postgres(t)
		for i := range *faultPGTrials {
			if msg := runTrial(t, s, seed+uint64(1_000_000+i), i); msg != "" {
				t.Fatal(msg)
			}
		}
	})
}

// trial is one randomized run.
type trial struct {
	t      testing.TB
	rng    *rand.Rand
	e      *env
	back   *effectConn
	source string
	log    []string

	dev      *simDevice
	model    map[string]map[string]any // "entity/id" (server id) -> fields the back end must hold
	accepted map[string]bool           // mutation ids accepted
	reported map[string]bool           // mutation ids the feed reported
	edited   bool                      // the server changed records since the last pull
	crashes  int
	// crashNext kills the hub after the next push's first Upload.
	crashNext bool
	// strict trials use merge with disjoint server edits, so every
	// mutation must end applied and the back end must equal the model;
	// the others use server_wins with the server editing the same fields,
	// so conflicts end as sync errors, whose edits must not have reached
	// the back end.
	strict bool
	// serverValues are the values the server wrote.
	serverValues map[string]bool
}

// runTrial runs one trial and returns "" or what went wrong.
func runTrial(t *testing.T, s *store.Store, seed uint64, n int) (msg string) {
	tr := &trial{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), source: fmt.Sprintf("f%d", n),
		model: map[string]map[string]any{}, accepted: map[string]bool{}, reported: map[string]bool{}}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(trialFailure); !ok {
				panic(r)
			}
			msg = fmt.Sprintf("trial %d (seed %d, rerun with -push.seed=%d -push.trials=%d) failed: %v\nsteps:\n  %s",
				n, seed, seed-uint64(n), n+1, r, strings.Join(tr.log, "\n  "))
		}
	}()
	tr.setup(s)
	steps := 1 + tr.rng.IntN(max(*faultSteps-1, 1))
	for range steps {
		tr.step()
	}
	tr.quiesce()
	tr.check()
	return ""
}

type trialFailure string

func (tr *trial) failf(format string, args ...any) {
	panic(trialFailure(fmt.Sprintf(format, args...)))
}

func (tr *trial) must(err error) {
	if err != nil {
		tr.failf("%v", err)
	}
}

func (tr *trial) logf(format string, args ...any) {
	tr.log = append(tr.log, fmt.Sprintf(format, args...))
}

func (tr *trial) setup(s *store.Store) {
	conn := memconn.New(memconn.WithSeed(3))
	rekey := tr.rng.IntN(2) == 0
	tr.back = &effectConn{Connector: conn, applied: map[string]bool{}, rekey: rekey}
	tr.strict = tr.rng.IntN(3) != 0
	tr.serverValues = map[string]bool{}
	tr.logf("back end keys creates itself: %t; strict: %t", rekey, tr.strict)
	tr.e = newEnvFor(tr.t, s, tr.source, tr.back, tr.refresh, func(src *config.Source) {
		for i := range src.Entities {
			if tr.strict {
				// Device edits (name, city, email, lookups) and server
				// edits (revenue) are disjoint: a merge always succeeds.
				src.Entities[i].Conflict, src.Entities[i].TieBreak = policyMerge, policyDeviceWins
			}
		}
	})
	tr.seedMirror()
	tr.dev = newSimDevice(tr)
	tr.dev.sync()
	for _, key := range tr.dev.keys() {
		tr.model[key] = maps.Clone(tr.dev.view[key].fields)
	}
	for _, entity := range []string{"account", "contact", "user"} {
		for _, id := range tr.back.ids(entity) {
			r, _ := tr.back.Get(entity, id)
			for _, v := range r.Fields {
				if s, ok := v.(string); ok {
					tr.serverValues[s] = true // the seed is the server's
				}
			}
		}
	}
	// Records outside the device's partitions are the back end's as they
	// are; the model covers them too.
	for _, entity := range []string{"account", "contact", "user"} {
		for _, id := range tr.back.ids(entity) {
			key := entity + "/" + id
			if _, ok := tr.model[key]; !ok {
				r, _ := tr.back.Get(entity, id)
				tr.model[key] = r.Fields
			}
		}
	}
}

// seedMirror mirrors the back end's records as a first full pull would
// (pull.MirrorRecords), without the pull's bookkeeping: trials stay small.
func (tr *trial) seedMirror() {
	ctx := context.Background()
	src := &tr.e.cfg.Sources[0]
	schema, err := tr.e.p.schema(ctx, src)
	tr.must(err)
	for _, entity := range []string{"user", "account", "contact"} {
		var recs []sdk.Record
		tr.must(tr.e.client.Fetch(ctx, sdk.FetchRequest{Entity: entity, PageSize: 100}, func(pg sdk.Page) error {
			recs = append(recs, pg.Records...)
			return nil
		}))
		ent, _ := src.Entity(entity)
		es, _ := schema.Entity(entity)
		puts, _, err := pull.MirrorRecords(src, ent, es, recs)
		tr.must(err)
		tr.must(tr.e.st.PushTx(ctx, func(tx *store.PushTx) error {
			_, err := tx.ApplyMirror(store.Batch{Source: tr.source, Entity: entity, Put: puts})
			return err
		}))
	}
}

// newEnvFor is newEnv on a connector of the trial's own.
func newEnvFor(t testing.TB, s *store.Store, source string, conn sdk.Connector, refresh func(string, []string), edit func(*config.Source)) *env {
	c := &clock{t: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)}
	e := &env{t: t, source: source, st: s, cfg: newConfig(source), clock: c}
	edit(&e.cfg.Sources[0])
	e.client = &hookClient{Client: sdk.InProcess(conn, nil)}
	e.opts = Options{Store: s, Config: e.cfg, Logger: storetest.Logger(t), Now: c.now, MaxAttempts: 3,
		Backoff: func(int) time.Duration { return 0 }, Refresh: refresh,
		Client: func(string) (sdk.Client, error) { return e.client, nil }}
	p, err := New(e.opts)
	if err != nil {
		panic(trialFailure(err.Error()))
	}
	e.p = p
	return e
}

// refresh is Options.Refresh for a trial: the pull the hub would trigger
// happens before the checks.
func (tr *trial) refresh(string, []string) { tr.edited = true }

// step does a random thing or two: the device edits and uploads, the back
// end edits, a pull runs, the device syncs; then a push runs under
// injected faults, possibly killed between an Upload and its results.
func (tr *trial) step() {
	tr.upload()
	if tr.rng.IntN(4) == 0 {
		tr.serverEdit()
	}
	if tr.rng.IntN(6) == 0 {
		tr.logf("pull")
		tr.pull()
	}
	tr.faults()
	tr.pushOnce()
	tr.e.clock.add(time.Second)
	if tr.rng.IntN(2) == 0 {
		tr.dev.sync()
	}
}

func (tr *trial) pull() {
	tr.e.pull()
	tr.edited = false
}

// faults arms the back end's faults for the next push.
func (tr *trial) faults() {
	var fs []memconn.Fault
	for range tr.rng.IntN(3) {
		kind := []memconn.FaultKind{memconn.FaultError, memconn.FaultAfterApply, memconn.FaultThrottle}[tr.rng.IntN(3)]
		f := memconn.Fault{Call: "upload", Kind: kind, Times: 1 + tr.rng.IntN(2)}
		if kind == memconn.FaultThrottle {
			f.RetryAfterMS = 500
		}
		fs = append(fs, f)
	}
	if len(fs) > 0 {
		tr.logf("faults %+v", fs)
	}
	tr.back.SetFault(fs...)
	tr.crashNext = tr.rng.IntN(5) == 0
}

// pushOnce runs one push; a crash abandons results and restarts the hub.
func (tr *trial) pushOnce() {
	crash := false
	if tr.crashNext {
		tr.e.p.afterUpload = func(string) error {
			if crash {
				return nil
			}
			crash = true
			return errAbandoned
		}
	}
	_, err := tr.e.p.PushSource(context.Background(), tr.source)
	switch {
	case errors.Is(err, errAbandoned):
		tr.crashes++
		tr.logf("hub killed after an Upload; restarted")
		// Whatever the dead hub held in memory is gone.
		tr.e.restart()
	case err != nil:
		tr.failf("push: %v", err)
	}
}

// quiesce lets everything settle: no faults, dead letters retried (as an
// admin would), pushes until nothing is open.
func (tr *trial) quiesce() {
	tr.back.SetFault()
	tr.e.p.afterUpload = nil
	for round := 0; ; round++ {
		if round > 30 {
			open, _ := tr.e.st.MutationsWithStatus(context.Background(), tr.source, []string{store.MutationPending,
				store.MutationInflight, store.MutationBlocked, store.MutationConflict, store.MutationRejected, store.MutationNotFound}, 100)
			var desc []string
			for _, m := range open {
				desc = append(desc, fmt.Sprintf("%s %s %s/%s %s: %s", m.MutationID[:8], m.Op, m.Entity, m.RecordID, m.Status, m.Reason))
			}
			tr.failf("mutations still open after 30 quiet pushes: %v\n  %s", tr.unsettled(), strings.Join(desc, "\n  "))
		}
		dead, err := tr.e.p.DeadLetters(context.Background(), tr.source, 0)
		tr.must(err)
		for _, d := range dead {
			tr.logf("retry dead letter %s (%s)", d.ID, d.Reason)
			// One retry revives every mutation of the dead op.
			if err := tr.e.p.RetryDeadLetter(context.Background(), tr.source, d.ID); err != nil && !errors.Is(err, ErrNotFound) {
				tr.failf("retry dead letter %s: %v", d.ID, err)
			}
		}
		_, err = tr.e.p.PushSource(context.Background(), tr.source)
		tr.must(err)
		tr.e.clock.add(time.Minute)
		if len(tr.unsettled()) == 0 && len(dead) == 0 {
			break
		}
	}
	if tr.edited {
		tr.pull()
	}
	tr.dev.sync()
}

// unsettled counts the mutations that are still on their way: in strict
// trials all but applied ones, in the others those not yet resolved.
func (tr *trial) unsettled() []string {
	counts, err := tr.e.st.CountMutations(context.Background(), tr.source)
	tr.must(err)
	var open []string
	for status, n := range counts {
		settled := status == store.MutationApplied || status == store.MutationNoEffect
		if !tr.strict {
			settled = status != store.MutationPending && status != store.MutationInflight && status != store.MutationDead
		}
		if !settled && n > 0 {
			open = append(open, fmt.Sprintf("%s=%d", status, n))
		}
	}
	slices.Sort(open)
	return open
}

// check asserts the trial's outcome.
func (tr *trial) check() {
	ctx := context.Background()
	// Every accepted mutation is applied (or resolved with no effect).
	var ids []string
	for id := range tr.accepted {
		ids = append(ids, id)
	}
	stored, err := tr.e.st.DeviceMutations(ctx, 1, ids)
	tr.must(err)
	failed := map[string]bool{} // values of edits that ended as sync errors
	applied := map[string]bool{}
	for _, id := range ids {
		m, ok := stored[id]
		if !ok {
			tr.failf("accepted mutation %s was lost", id)
		}
		done := m.Status == store.MutationApplied || m.Status == store.MutationNoEffect
		if !done && (tr.strict || !slices.Contains(store.SyncErrorStatuses, m.Status) || m.Status == store.MutationDead) {
			tr.failf("mutation %s %s %s/%s ended %s: %s", id, m.Op, m.Entity, m.RecordID, m.Status, m.Reason)
		}
		if done && !tr.reported[id] {
			tr.failf("mutation %s (%s) was never reported to the device as applied", id, m.Status)
		}
		f, err := decodeFields(m.Fields)
		tr.must(err)
		for _, v := range f {
			if s, ok := v.(string); ok {
				if done {
					applied[s] = true
				} else {
					failed[s] = true
				}
			}
		}
	}
	// No effect reached the back end twice, and none of an edit that
	// ended as a sync error.
	tr.back.checkOnce(tr, failed)
	// The back end holds exactly what the device wrote (and the server's
	// own edits).
	backend := map[string]map[string]any{}
	for _, entity := range []string{"account", "contact", "user"} {
		for _, id := range tr.back.ids(entity) {
			r, _ := tr.back.Get(entity, id)
			backend[entity+"/"+id] = r.Fields
		}
	}
	if tr.strict {
		tr.compare("back end", backend, "model", tr.model, "modified")
	} else {
		// Every value the back end holds was written by the seed, the
		// server or an applied edit.
		for _, key := range sortedKeys(backend) {
			for _, f := range []string{"name", "city", "email"} {
				v, _ := backend[key][f].(string)
				if v == "" || tr.serverValues[v] || applied[v] {
					continue
				}
				tr.failf("back end %s.%s = %q, which nobody applied", key, f, v)
			}
		}
	}
	// The mirror equals the back end.
	mirror := map[string]map[string]any{}
	for _, entity := range []string{"account", "contact", "user"} {
		recs, err := tr.e.st.MirrorRecords(ctx, tr.source, entity, tr.back.ids(entity))
		tr.must(err)
		for id, r := range recs {
			f, err := decodeFields(r.Fields)
			tr.must(err)
			mirror[entity+"/"+id] = f
		}
		n, err := tr.e.st.CountRecords(ctx, tr.source, entity)
		tr.must(err)
		if int(n) != len(recs) {
			tr.failf("the mirror has %d %s records, the back end %d", n, entity, len(recs))
		}
	}
	tr.compare("mirror", mirror, "back end", backend, "")
	// The device sees exactly the back end's records of its partitions.
	visible := map[string]map[string]any{}
	for key, f := range backend {
		if strings.HasPrefix(key, "user/") || ownerOf(f) == "u1" {
			visible[key] = f
		}
	}
	seen := map[string]map[string]any{}
	for key, r := range tr.dev.view {
		seen[key] = r.fields
	}
	tr.compare("device", seen, "back end", visible, "")
}

func ownerOf(f map[string]any) string {
	if ref, ok := lookupRef(f["owner"]); ok {
		return ref.ID
	}
	return ""
}

// compare fails unless a and b hold the same records with equal fields
// (ignoring the field skip).
func (tr *trial) compare(an string, a map[string]map[string]any, bn string, b map[string]map[string]any, skip string) {
	for _, key := range sortedKeys(a) {
		if _, ok := b[key]; !ok {
			tr.failf("%s has %s, %s does not: %v", an, key, bn, a[key])
		}
	}
	for _, key := range sortedKeys(b) {
		fa, ok := a[key]
		if !ok {
			tr.failf("%s lacks %s, which %s has: %v", an, key, bn, b[key])
		}
		fb := b[key]
		for _, f := range sortedKeys(merge(fa, fb)) {
			if f != skip && !equalJSON(fa[f], fb[f]) {
				tr.failf("%s %s.%s = %v, %s has %v", an, key, f, fa[f], bn, fb[f])
			}
		}
	}
}

// serverEdit changes a record's revenue on the back end, as a back-end user
// would.
func (tr *trial) serverEdit() {
	var cands []string
	for _, key := range sortedKeys(tr.model) {
		if strings.HasPrefix(key, "account/") {
			cands = append(cands, key)
		}
	}
	if len(cands) == 0 {
		return
	}
	key := cands[tr.rng.IntN(len(cands))]
	id := strings.TrimPrefix(key, "account/")
	if _, ok := tr.back.Get("account", id); !ok {
		return
	}
	rev := float64(tr.rng.IntN(100000))
	edit := map[string]any{"id": id, "revenue": rev}
	if !tr.strict {
		city := fmt.Sprintf("srv-%d", tr.rng.IntN(1_000_000))
		edit["city"] = city
		tr.serverValues[city] = true
	}
	tr.back.Put("account", edit)
	tr.model[key]["revenue"] = rev
	tr.edited = true
	tr.logf("server sets %s %v", key, edit)
}

// upload makes the device edit and upload.
func (tr *trial) upload() {
	var ms []Mutation
	for range 1 + tr.rng.IntN(2) {
		ms = append(ms, tr.dev.edit()...)
	}
	if len(ms) == 0 {
		return
	}
	req := tr.e.caller(1)
	req.Mutations = ms
	res, err := tr.e.p.Accept(context.Background(), req)
	tr.must(err)
	if len(res.Rejected) > 0 {
		tr.failf("valid mutations rejected: %+v", res.Rejected)
	}
	for _, m := range ms {
		tr.accepted[m.MutationID] = true
		tr.logf("accepted %s %s %s/%s base %q %s group %q", m.MutationID[:8], m.Op, m.Entity, m.ID, m.BaseVersion, m.Fields, m.Group)
	}
	// Sometimes the device did not hear the answer and sends it again.
	if tr.rng.IntN(6) == 0 {
		res, err := tr.e.p.Accept(context.Background(), req)
		tr.must(err)
		if len(res.Accepted) != len(ms) {
			tr.failf("a re-sent upload was not accepted whole: %+v", res)
		}
		tr.logf("upload sent again")
	}
}

// simDevice is the device: its download of the mirror and its knowledge
// of the records it may edit.
type simDevice struct {
	tr      *trial
	since   map[string]int64
	applied int64
	view    map[string]simRecord // "entity/server id"
	// mine are records the device created, by its own id, until it learns
	// the server's id.
	mine    map[string]*simOwn
	deleted map[string]bool // "entity/id" the device deleted (either id)
	n       int
}

type simRecord struct {
	version string
	fields  map[string]any
}

type simOwn struct {
	entity, id string
	mutation   string
	serverID   string // once reported
}

func newSimDevice(tr *trial) *simDevice {
	d := &simDevice{tr: tr, since: map[string]int64{}, view: map[string]simRecord{}, mine: map[string]*simOwn{}, deleted: map[string]bool{}}
	for _, p := range tr.e.caller(1).Partitions {
		d.since[p] = 0
	}
	return d
}

func (d *simDevice) keys() []string { return sortedKeys(d.view) }

// sync downloads the changes and the applied reports, as the changes
// endpoint serves them.
func (d *simDevice) sync() {
	tr := d.tr
	ctx := context.Background()
	for {
		seq, err := tr.e.st.SourceSeq(ctx, tr.source)
		tr.must(err)
		last, more, err := tr.e.st.Changes(ctx, tr.source, d.since, 4+tr.rng.IntN(30), func(op store.ChangeOp) error {
			key := op.Entity + "/" + op.ID
			if op.Removed {
				delete(d.view, key)
			} else {
				f, err := decodeFields(op.Fields)
				if err != nil {
					return err
				}
				d.view[key] = simRecord{version: op.Version, fields: f}
			}
			return nil
		})
		tr.must(err)
		through := seq
		if more {
			through = last
		}
		for p, s := range d.since {
			d.since[p] = max(s, last)
			if !more {
				d.since[p] = max(d.since[p], seq)
			}
		}
		applied, reached, err := tr.e.p.Applied(ctx, tr.source, 1, d.applied, through, 2+tr.rng.IntN(30))
		tr.must(err)
		d.applied = max(d.applied, reached)
		for _, a := range applied {
			tr.reported[a.MutationID] = true
			if a.ID != "" {
				for _, o := range d.mine {
					if o.mutation == a.MutationID {
						o.serverID = a.ID
					}
				}
			}
		}
		if !more && reached >= through {
			return
		}
	}
}

// target is a record the device may edit: its id as the device knows it,
// its base version ("" for its own create not downloaded yet) and its
// model key.
type target struct {
	entity, id, base, key string
}

func (d *simDevice) targets(entity string) []target {
	var out []target
	seen := map[string]bool{}
	echo := map[string]bool{} // server ids of own creates not reported applied yet
	for _, o := range d.mine {
		if o.serverID == "" {
			echo[o.entity+"/"+d.serverID(o)] = true
		}
	}
	for _, key := range d.keys() {
		if !strings.HasPrefix(key, entity+"/") || d.deleted[key] || (echo[key] && d.tr.back.rekey) {
			// A record the device cannot tell from its own create until
			// the hub reports the create applied is left alone.
			continue
		}
		r := d.view[key]
		if ownerOf(r.fields) != "u1" {
			continue
		}
		id := strings.TrimPrefix(key, entity+"/")
		out = append(out, target{entity: entity, id: id, base: r.version, key: key})
		seen[key] = true
	}
	for _, own := range sortedKeys(d.mine) {
		o := d.mine[own]
		if o.entity != entity || d.deleted[entity+"/"+o.id] {
			continue
		}
		key := entity + "/" + d.serverID(o)
		if seen[key] || d.deleted[key] {
			continue
		}
		out = append(out, target{entity: entity, id: o.id, base: "", key: key})
	}
	return out
}

// serverID is the id the back end gives the device's create (the trial's
// connector keys "s-<client id>" when it rekeys).
func (d *simDevice) serverID(o *simOwn) string {
	if d.tr.back.rekey {
		return "s-" + o.id
	}
	return o.id
}

func (d *simDevice) token(kind string) string {
	d.n++
	return fmt.Sprintf("%s-%d-%d", kind, d.n, d.tr.rng.IntN(1_000_000))
}

// edit makes one random edit (two for a group) and updates the model.
func (d *simDevice) edit() []Mutation {
	tr := d.tr
	accounts, contacts := d.targets("account"), d.targets("contact")
	switch r := tr.rng.IntN(10); {
	case r < 2:
		return []Mutation{d.create("account", "")}
	case r < 4 && len(accounts) > 0:
		parent := accounts[tr.rng.IntN(len(accounts))]
		return []Mutation{d.create("contact", parent.id)}
	case r < 5:
		// An invoice-like group: a parent and its child, all or nothing.
		a := d.create("account", "")
		c := d.create("contact", a.ID)
		g := d.token("group")
		a.Group, c.Group = g, g
		return []Mutation{a, c}
	case r < 9:
		all := append(accounts, contacts...)
		if len(all) == 0 {
			return nil
		}
		tg := all[tr.rng.IntN(len(all))]
		f := map[string]any{}
		if tr.rng.IntN(2) == 0 {
			f["name"] = d.token("name")
		}
		if tg.entity == "account" && (len(f) == 0 || tr.rng.IntN(2) == 0) {
			f["city"] = d.token("city")
		}
		if tg.entity == "contact" && (len(f) == 0 || tr.rng.IntN(2) == 0) {
			f["email"] = d.token("email")
		}
		maps.Copy(tr.model[tg.key], f)
		return []Mutation{update(tg.entity, tg.id, tg.base, f)}
	default:
		all := append(accounts, contacts...)
		if len(all) == 0 {
			return nil
		}
		tg := all[tr.rng.IntN(len(all))]
		if tg.entity == "account" && d.referenced(tg.key) {
			return nil // the device does not delete an account its contacts point to
		}
		d.deleted[tg.key] = true
		d.deleted[tg.entity+"/"+tg.id] = true
		delete(tr.model, tg.key)
		return []Mutation{del(tg.entity, tg.id, tg.base)}
	}
}

// referenced reports whether a live contact of the model points to the
// account.
func (d *simDevice) referenced(key string) bool {
	id := strings.TrimPrefix(key, "account/")
	for k, f := range d.tr.model {
		if ref, ok := lookupRef(f["account"]); ok && strings.HasPrefix(k, "contact/") && ref.ID == id {
			return true
		}
	}
	return false
}

// create makes a create of the device's own; parent is the account the
// contact points to, as the device knows it.
func (d *simDevice) create(entity, parent string) Mutation {
	tr := d.tr
	id := d.token("t")
	f := map[string]any{"name": d.token("name"), "owner": ref("user", "u1")}
	model := map[string]any{"id": id, "name": f["name"], "owner": f["owner"]}
	if entity == "account" {
		f["city"] = d.token("city")
		model["city"] = f["city"]
	} else {
		model["email"] = nil
		if parent != "" {
			f["account"] = ref("account", parent)
			model["account"] = ref("account", d.resolve("account", parent))
		}
	}
	m := create(entity, id, f)
	o := &simOwn{entity: entity, id: id, mutation: m.MutationID}
	d.mine[id] = o
	sid := d.serverID(o)
	model["id"] = sid
	if entity == "account" {
		model["revenue"] = nil
	}
	tr.model[entity+"/"+sid] = model
	return m
}

// resolve maps an id the device uses to the back end's.
func (d *simDevice) resolve(entity, id string) string {
	if o, ok := d.mine[id]; ok && o.entity == entity {
		return d.serverID(o)
	}
	return id
}

// effectConn is memconn keying creates "s-<client id>" when rekey is set
// (and mapping lookups to creates of the same call, as a $batch does),
// and logging every effect: an op applied for the first time.
type effectConn struct {
	*memconn.Connector
	rekey bool

	mu      sync.Mutex
	applied map[string]bool // op keys applied
	effects []sdk.Op
}

func (c *effectConn) Upload(ctx context.Context, req sdk.UploadRequest) (sdk.UploadResponse, error) {
	created := map[string]bool{}
	ops := make([]sdk.Op, len(req.Ops))
	byKey := map[string]sdk.Op{}
	for i, op := range req.Ops {
		op.Fields = maps.Clone(op.Fields)
		if c.rekey {
			if op.Kind == sdk.OpCreate {
				created[op.ID] = true
				op.ID = "s-" + op.ID
			}
			for f, v := range op.Fields {
				if r, ok := lookupRef(v); ok && created[r.ID] {
					op.Fields[f] = ref(r.Entity, "s-"+r.ID)
				}
			}
		}
		ops[i] = op
		byKey[op.MutationID] = op
	}
	c.mu.Lock()
	before := maps.Clone(c.applied)
	c.mu.Unlock()
	resp, err := c.Connector.Upload(ctx, sdk.UploadRequest{Ops: ops, Atomic: req.Atomic})
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range resp.Results {
		if r.Status == sdk.StatusApplied && !before[r.MutationID] {
			c.applied[r.MutationID] = true
			c.effects = append(c.effects, byKey[r.MutationID])
		}
	}
	return resp, err
}

// ids lists an entity's record ids.
func (c *effectConn) ids(entity string) []string {
	var out []string
	err := c.ListIDs(context.Background(), sdk.ListIDsRequest{Entity: entity}, func(ids []string) error {
		out = append(out, ids...)
		return nil
	})
	if err != nil {
		panic(trialFailure(err.Error()))
	}
	return out
}

// checkOnce fails when one device edit took effect twice (every edit
// carries values of its own, so a value in two effects is a double apply)
// or when an edit in failed took effect at all.
func (c *effectConn) checkOnce(tr *trial, failed map[string]bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	seen := map[string]int{}
	for i, op := range c.effects {
		if op.Kind == sdk.OpCreate {
			key := "create " + op.Entity + "/" + op.ID
			if j, ok := seen[key]; ok {
				tr.failf("%s took effect twice (ops %s and %s)", key, c.effects[j].MutationID, op.MutationID)
			}
			seen[key] = i
		}
		for _, f := range []string{"name", "city", "email"} {
			if v, ok := op.Fields[f].(string); ok {
				if failed[v] {
					tr.failf("the edit setting %s=%s ended as a sync error, yet took effect (op %s)", f, v, op.MutationID)
				}
				if j, dup := seen[v]; dup {
					tr.failf("the edit setting %s=%s took effect twice (ops %s and %s)", f, v, c.effects[j].MutationID, op.MutationID)
				}
				seen[v] = i
			}
		}
	}
}
