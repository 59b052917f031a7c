package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/events"
	"github.com/synchub/synchub/host/push"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
	"github.com/synchub/synchub/sdk"
)

// fakeBackend answers Upload: it applies every op (a create gets the id
// "srv-<client id>" when rekey is set) unless a rule says otherwise.
type fakeBackend struct {
	sdk.Client // nil: only Upload is called
	mu         sync.Mutex
	rekey      bool
	fail       error  // every Upload fails with it
	reject     string // ops with this name are rejected
	n          int
}

func (f *fakeBackend) Upload(_ context.Context, req sdk.UploadRequest) (sdk.UploadResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return sdk.UploadResponse{}, f.fail
	}
	var resp sdk.UploadResponse
	for _, op := range req.Ops {
		var err error
		if op.Fields, err = op.FieldMap(); err != nil { // the hub sends the fields as JSON
			return resp, err
		}
		if name, _ := op.Fields["name"].(string); name != "" && name == f.reject {
			resp.Results = append(resp.Results, sdk.OpResult{MutationID: op.MutationID, Status: sdk.StatusRejected, Message: "the back end refuses " + name})
			continue
		}
		f.n++
		id := op.ID
		if f.rekey && op.Kind == sdk.OpCreate {
			id = "srv-" + op.ID
		}
		res := sdk.OpResult{MutationID: op.MutationID, Status: sdk.StatusApplied, ID: id}
		if op.Kind != sdk.OpDelete {
			fields := map[string]any{"accountid": id}
			for k, v := range op.Fields {
				fields[k] = v
			}
			res.Record = &sdk.Record{ID: id, Version: fmt.Sprintf("v%d", f.n), Fields: fields}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}

// pushEnv is env with a push stage on the fake back end.
type pushEnv struct {
	*env
	backend *fakeBackend
	pusher  *push.Pusher
}

func newPushEnv(t *testing.T, st *store.Store, atomic bool) *pushEnv {
	t.Helper()
	e := &env{t: t, st: st, cfg: testConfig(t),
		clock:   &clock{now: time.Now().UTC().Truncate(time.Second)},
		sources: &fakeSources{schema: testSchema(), states: map[string]PluginState{}},
		puller:  &fakePuller{}, events: events.New()}
	e.cfg.Hub.MaxBodyBytes = 64 << 10
	b := &fakeBackend{}
	p, err := push.New(push.Options{Store: st, Config: e.cfg, Logger: storetest.Logger(t), MaxAttempts: 1, MaxAcceptBatch: 5,
		Client: func(string) (sdk.Client, error) { return b, nil },
		Schema: func(source string) (sdk.Schema, error) { return e.sources.Schema(context.Background(), source) },
		Describe: func(string) (sdk.Description, error) {
			return sdk.Description{Name: "fake", MaxBatchSize: 100, AtomicBatches: atomic}, nil
		}})
	require.NoError(t, err)
	e.srv = New(Deps{Store: st, Config: e.cfg, Sources: e.sources, Puller: e.puller, Pusher: p, Events: e.events,
		Logger: storetest.Logger(t), Now: e.clock.Now})
	t.Cleanup(e.srv.Close)
	require.NoError(t, e.srv.SyncUsers(context.Background()))
	return &pushEnv{env: e, backend: b, pusher: p}
}

func (e *pushEnv) push() {
	e.t.Helper()
	_, err := e.pusher.PushSource(context.Background(), "crm")
	require.NoError(e.t, err)
}

type mutationsResult struct {
	Accepted []string `json:"accepted"`
	Rejected []struct {
		MutationID string `json:"mutation_id"`
		Reason     string `json:"reason"`
	} `json:"rejected"`
}

func (e *pushEnv) upload(token string, muts ...map[string]any) mutationsResult {
	e.t.Helper()
	r := e.do("POST", "/v1/sources/crm/mutations", token, map[string]any{"mutations": muts})
	require.Equal(e.t, http.StatusOK, r.Code, r.Body.String())
	var res mutationsResult
	r.json(e.t, &res)
	return res
}

func newAccount(mid, id, owner, name string) map[string]any {
	return map[string]any{"mutation_id": mid, "entity": "account", "op": "create", "id": id,
		"fields":      map[string]any{"name": name, "ownerid": map[string]any{"entity": "systemuser", "id": owner}},
		"client_time": "2026-11-22T10:00:00Z"}
}

type syncErrors struct {
	Errors []push.SyncError `json:"errors"`
}

func TestMutations(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		e := newPushEnv(t, st, false)
		seedCRM(e.env)
		alice, bob := e.token("alice"), e.token("bob")

		t.Run("an_upload_answers_accepted_and_rejected_per_mutation", func(t *testing.T) {
			res := e.upload(alice,
				newAccount("m1", "new-1", "A-1", "Fresh"),
				map[string]any{"mutation_id": "m2", "entity": "nope", "op": "create", "id": "x"},
				map[string]any{"mutation_id": "m3", "entity": "account", "op": "update", "id": "acc-a1", "fields": map[string]any{"name": "x"}},
				map[string]any{"mutation_id": "m4", "entity": "account", "op": "update", "id": "acc-a1", "base_version": "1", "fields": map[string]any{"name": 7}},
				map[string]any{"mutation_id": "m5", "entity": "contact", "op": "create", "id": "c", "fields": map[string]any{}},
			)
			assert.Equal(t, []string{"m1"}, res.Accepted)
			reasons := map[string]string{}
			for _, r := range res.Rejected {
				reasons[r.MutationID] = r.Reason
			}
			assert.Contains(t, reasons["m2"], "no entity")
			assert.Contains(t, reasons["m3"], "base_version is required")
			assert.Contains(t, reasons["m4"], "want a string")
			assert.Contains(t, reasons["m5"], "read-only")
		})
		t.Run("a_resent_mutation_is_accepted_again", func(t *testing.T) {
			res := e.upload(alice, newAccount("m1", "new-1", "A-1", "Fresh"))
			assert.Equal(t, []string{"m1"}, res.Accepted)
			res = e.upload(alice, newAccount("m1", "new-1", "A-1", "Other"))
			assert.Empty(t, res.Accepted)
			assert.Contains(t, res.Rejected[0].Reason, "already used")
		})
		t.Run("bob_cannot_touch_alices_records", func(t *testing.T) {
			res := e.upload(bob,
				map[string]any{"mutation_id": "b1", "entity": "account", "op": "update", "id": "acc-a1", "base_version": "1", "fields": map[string]any{"name": "mine"}},
				newAccount("b2", "acc-a1", "B-2", "Taken"),
				newAccount("b3", "new-b", "A-1", "For alice"),
			)
			assert.Empty(t, res.Accepted)
			require.Len(t, res.Rejected, 3)
			assert.Contains(t, res.Rejected[0].Reason, "in your partitions")
			assert.Contains(t, res.Rejected[1].Reason, "is taken")
			assert.Contains(t, res.Rejected[2].Reason, "outside your partitions")
		})
		t.Run("bad_bodies_are_refused_whole", func(t *testing.T) {
			for _, tc := range []struct {
				body   string
				status int
				code   string
			}{
				{`{"mutations": [`, 400, codeInvalidBody},
				{`{}`, 400, codeInvalidBody},
				{`{"mutations": [{"mutation_id": "x", "bogus": 1}]}`, 400, codeInvalidBody},
				{`{"mutations": [` + strings.Repeat(`{"mutation_id":"x"},`, 5) + `{"mutation_id":"y"}]}`, 413, codeBatchTooLarge},
			} {
				r := e.do("POST", "/v1/sources/crm/mutations", alice, tc.body)
				assert.Equal(t, tc.status, r.Code, tc.body)
				assert.Equal(t, tc.code, r.errorBody(t).Code, tc.body)
			}
		})
		t.Run("a_group_is_refused_when_the_connector_has_no_atomic_batches", func(t *testing.T) {
			m := newAccount("g1", "g-1", "A-1", "G")
			m["group"] = "order-1"
			res := e.upload(alice, m)
			require.Len(t, res.Rejected, 1)
			assert.Contains(t, res.Rejected[0].Reason, "atomic")
		})
		t.Run("duplicate_mutation_ids_in_one_upload_are_all_rejected", func(t *testing.T) {
			res := e.upload(alice, newAccount("d1", "d-1", "A-1", "D"), newAccount("d1", "d-2", "A-1", "D"))
			assert.Empty(t, res.Accepted)
			assert.Len(t, res.Rejected, 2)
		})
	})
}

func TestChangesReportApplied(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		e := newPushEnv(t, st, false)
		e.backend.rekey = true
		alice := e.token("alice")
		_, cp, _ := e.syncAll(alice, "crm", "", 100)
		e.upload(alice, newAccount("m1", "tmp-1", "A-1", "Fresh"))
		p := e.fetch(alice, "crm", cp, 100)
		assert.Empty(t, p.Applied, "not applied yet")
		e.push()
		p = e.fetch(alice, "crm", p.Checkpoint, 100)
		require.Len(t, p.Ops, 1)
		assert.Equal(t, "srv-tmp-1", p.Ops[0].ID)
		require.Len(t, p.Applied, 1)
		assert.Equal(t, map[string]any{"mutation_id": "m1", "id": "srv-tmp-1"}, p.Applied[0])
		p = e.fetch(alice, "crm", p.Checkpoint, 100)
		assert.Empty(t, p.Applied, "reported once")
		// A device that syncs from scratch hears of it again.
		p = e.fetch(alice, "crm", "", 100)
		assert.Len(t, p.Applied, 1)
		// Another device of alice's hears nothing of this device's.
		other := e.login("alice", "alice-tablet").AccessToken
		p = e.fetch(other, "crm", "", 100)
		assert.Empty(t, p.Applied)
	})
}

func TestSyncErrors(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		e := newPushEnv(t, st, false)
		e.backend.reject = "Bad"
		alice, bob := e.token("alice"), e.token("bob")
		tablet := e.login("alice", "alice-tablet").AccessToken
		e.upload(alice, newAccount("m1", "bad-1", "A-1", "Bad"))
		e.push()

		list := func(token string) []push.SyncError {
			r := e.do("GET", "/v1/sources/crm/sync-errors", token, nil)
			require.Equal(t, http.StatusOK, r.Code, r.Body.String())
			var out syncErrors
			r.json(t, &out)
			return out.Errors
		}
		errs := list(alice)
		require.Len(t, errs, 1)
		assert.Equal(t, "m1", errs[0].MutationID)
		assert.Equal(t, store.MutationRejected, errs[0].Status)
		assert.Equal(t, "the back end refuses Bad", errs[0].Reason)
		assert.JSONEq(t, `{"name":"Bad","ownerid":{"entity":"systemuser","id":"A-1"}}`, string(errs[0].DeviceRecord))
		assert.Empty(t, list(bob), "bob sees none of alice's")
		assert.Empty(t, list(tablet), "another device sees none of this one's")

		path := "/v1/sources/crm/sync-errors/" + errs[0].ID + "/resolve"
		for _, token := range []string{bob, tablet} {
			r := e.do("POST", path, token, map[string]any{"resolution": "take_server"})
			assert.Equal(t, http.StatusNotFound, r.Code, "BOLA: %s", r.Body.String())
		}
		r := e.do("POST", path, alice, map[string]any{"resolution": "maybe"})
		assert.Equal(t, http.StatusBadRequest, r.Code)
		r = e.do("POST", path, alice, map[string]any{"resolution": "merged", "fields": map[string]any{"name": "Good"}})
		require.Equal(t, http.StatusOK, r.Code, r.Body.String())
		e.push()
		assert.Empty(t, list(alice), "the merged fields were applied")
		r = e.do("POST", path, alice, map[string]any{"resolution": "take_server"})
		assert.Equal(t, http.StatusConflict, r.Code)
		assert.Equal(t, codeNotOpen, r.errorBody(t).Code)
	})
}

func TestDeadLetters(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, st *store.Store) {
		e := newPushEnv(t, st, false)
		e.backend.fail = errors.New("back end down")
		alice, root := e.token("alice"), e.token("root")
		e.upload(alice, newAccount("m1", "d-1", "A-1", "Dead"), newAccount("m2", "d-2", "A-1", "Dead too"))
		e.push()

		list := func() []push.DeadLetter {
			r := e.do("GET", "/v1/admin/sources/crm/dead-letters", root, nil)
			require.Equal(t, http.StatusOK, r.Code, r.Body.String())
			var out struct {
				DeadLetters []push.DeadLetter `json:"dead_letters"`
			}
			r.json(t, &out)
			return out.DeadLetters
		}
		dead := list()
		require.Len(t, dead, 2)
		assert.Contains(t, dead[0].Reason, "back end down")
		assert.Equal(t, http.StatusForbidden, e.do("GET", "/v1/admin/sources/crm/dead-letters", alice, nil).Code)
		assert.Equal(t, http.StatusNotFound, e.do("GET", "/v1/admin/sources/zz/dead-letters", root, nil).Code)

		e.backend.mu.Lock()
		e.backend.fail = nil
		e.backend.mu.Unlock()
		r := e.do("POST", "/v1/admin/sources/crm/dead-letters/"+dead[0].ID+"/retry", root, nil)
		require.Equal(t, http.StatusAccepted, r.Code, r.Body.String())
		e.push()
		r = e.do("DELETE", "/v1/admin/sources/crm/dead-letters/"+dead[1].ID, root, nil)
		require.Equal(t, http.StatusNoContent, r.Code, r.Body.String())
		assert.Empty(t, list())
		r = e.do("DELETE", "/v1/admin/sources/crm/dead-letters/"+dead[1].ID, root, nil)
		assert.Equal(t, http.StatusNotFound, r.Code)

		p := e.fetch(alice, "crm", "", 100)
		require.Len(t, p.Applied, 1)
		assert.Equal(t, "m1", p.Applied[0].(map[string]any)["mutation_id"])
	})
}

func TestPushRoutesWithoutAPusher(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t))
	alice := e.token("alice")
	r := e.do("POST", "/v1/sources/crm/mutations", alice, map[string]any{"mutations": []any{}})
	assert.Equal(t, http.StatusServiceUnavailable, r.Code)
	r = e.do("GET", "/v1/sources/crm/sync-errors", alice, nil)
	assert.Equal(t, http.StatusServiceUnavailable, r.Code)
	assert.Empty(t, e.fetch(alice, "crm", "", 10).Applied)
}
