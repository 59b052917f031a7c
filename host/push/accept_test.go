package push

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/host/store/storetest"
	"github.com/synchub/synchub/sdk"
)

func TestAcceptRejects(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		e := newEnv(t, s)
		e.pull()
		// acc-0004 was another user's: its tombstone is not in u1's
		// partitions.
		e.conn.Delete("account", "acc-0004")
		e.pull()
		_, v, _ := e.record("account", "acc-0003")
		owner := ref("user", "u1")
		dup := create("account", "d-1", map[string]any{"name": "D", "owner": owner})
		for _, tc := range []struct {
			name   string
			m      Mutation
			reason string
		}{
			{"an_unknown_entity", create("invoice", "i-1", map[string]any{}), `no entity "invoice"`},
			{"a_read_only_entity", update("user", "u1", "1", map[string]any{"name": "x"}), "read-only"},
			{"an_unknown_field", update("account", "acc-0003", v, map[string]any{"colour": "red"}), `no field "colour"`},
			{"a_read_only_field", update("account", "acc-0003", v, map[string]any{"modified": "2026-01-01T00:00:00Z"}), "read-only"},
			{"a_string_for_a_number", update("account", "acc-0003", v, map[string]any{"revenue": "lots"}), "want a number"},
			{"a_number_for_a_string", update("account", "acc-0003", v, map[string]any{"city": 7}), "want a string"},
			{"a_bad_lookup", update("account", "acc-0003", v, map[string]any{"owner": "u1"}), "lookup"},
			{"a_lookup_to_the_wrong_entity", update("account", "acc-0003", v, map[string]any{"owner": ref("account", "x")}), "cannot point"},
			{"a_missing_required_field", create("account", "n-1", map[string]any{"owner": owner}), `"name"`},
			{"a_too_long_string", create("account", "n-2", map[string]any{"name": strings.Repeat("x", 161), "owner": owner}), "longer than 160"},
			{"an_update_without_base_version", update("account", "acc-0003", "", map[string]any{"city": "x"}), "base_version is required"},
			{"a_delete_with_fields", Mutation{MutationID: mid(), Entity: "account", Op: "delete", ID: "acc-0003", BaseVersion: v, Fields: fieldsJSON(map[string]any{"city": "x"})}, "no fields"},
			{"an_unknown_op", Mutation{MutationID: mid(), Entity: "account", Op: "upsert", ID: "x"}, "not create, update or delete"},
			{"no_id", create("account", "", map[string]any{"name": "x", "owner": owner}), "id is required"},
			{"fields_that_are_not_an_object", Mutation{MutationID: mid(), Entity: "account", Op: "create", ID: "x", Fields: []byte(`[1]`)}, "JSON object"},
			{"a_bad_client_time", Mutation{MutationID: mid(), Entity: "account", Op: "create", ID: "x", ClientTime: "yesterday", Fields: fieldsJSON(map[string]any{"name": "x", "owner": owner})}, "client_time"},
			{"an_update_of_another_users_record", update("account", "acc-0001", "1", map[string]any{"city": "x"}), "in your partitions"},
			{"an_update_of_a_record_that_does_not_exist", update("account", "nope", "1", map[string]any{"city": "x"}), "in your partitions"},
			{"an_update_of_another_users_record_deleted_since", update("account", "acc-0004", "1", map[string]any{"city": "x"}), "in your partitions"},
			{"a_create_in_another_users_partition", create("account", "n-3", map[string]any{"name": "x", "owner": ref("user", "u2")}), "outside your partitions"},
			{"a_create_with_a_null_owner", create("account", "n-4", map[string]any{"name": "x", "owner": nil}), "outside your partitions"},
			{"a_create_whose_id_is_another_users_record", create("account", "acc-0001", map[string]any{"name": "x", "owner": owner}), "is taken"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				res := e.accept(1, tc.m)
				require.Len(t, res.Rejected, 1, "accepted: %v", res.Accepted)
				assert.Contains(t, res.Rejected[0].Reason, tc.reason)
			})
		}
		t.Run("a_create_without_its_owner_is_the_creators", func(t *testing.T) {
			m := create("account", "mine-1", map[string]any{"name": "Made offline"})
			e.acceptOK(1, m)
			e.push()
			assert.Equal(t, store.MutationApplied, e.status(1, m.MutationID))
			rec, ok := e.backend("account", e.mutation(1, m.MutationID).BackendID)
			require.True(t, ok)
			assert.Equal(t, "u1", fmt.Sprint(rec["owner"].(map[string]any)["id"]), "the back end has the creator as owner: %v", rec)
			fields, _, ok := e.record("account", e.mutation(1, m.MutationID).BackendID)
			require.True(t, ok, "the record is in the creator's partition of the mirror")
			assert.NotNil(t, fields["owner"])
		})
		t.Run("duplicate_mutation_ids_in_one_upload", func(t *testing.T) {
			a := create("account", "x-1", map[string]any{"name": "x", "owner": owner})
			b := a
			b.ID = "x-2"
			res := e.accept(1, a, b)
			assert.Empty(t, res.Accepted)
			assert.Len(t, res.Rejected, 2)
		})
		t.Run("a_mutation_id_reused_for_another_change", func(t *testing.T) {
			e.acceptOK(1, dup)
			other := dup
			other.Fields = fieldsJSON(map[string]any{"name": "E", "owner": owner})
			res := e.accept(1, other)
			require.Len(t, res.Rejected, 1)
			assert.Contains(t, res.Rejected[0].Reason, "already used")
			again := e.accept(1, dup)
			assert.Equal(t, []string{dup.MutationID}, again.Accepted, "the same change again is accepted")
		})
		t.Run("another_device_may_use_the_same_mutation_id", func(t *testing.T) {
			m := create("account", "x-3", map[string]any{"name": "x", "owner": ref("user", "u2")})
			m.MutationID = dup.MutationID
			e.acceptOK(2, m)
		})
		t.Run("an_upload_over_the_cap_is_refused_whole", func(t *testing.T) {
			ms := make([]Mutation, e.p.opts.MaxAcceptBatch+1)
			for i := range ms {
				ms[i] = create("account", mid(), map[string]any{"name": "x", "owner": owner})
			}
			req := e.caller(1)
			req.Mutations = ms
			_, err := e.p.Accept(ctxT(t), req)
			assert.True(t, errors.Is(err, ErrBatchTooLarge), "%v", err)
		})
	})
}

func TestGroups(t *testing.T) {
	storetest.ForEachDB(t, func(t *testing.T, s *store.Store) {
		owner := ref("user", "u1")
		order := func(g, acc string, name string) []Mutation {
			a := create("account", acc, map[string]any{"name": name, "owner": owner})
			c := create("contact", acc+"-c", map[string]any{"name": "Line", "owner": owner, "account": ref("account", acc)})
			a.Group, c.Group = g, g
			return []Mutation{c, a}
		}
		t.Run("a_group_goes_in_one_atomic_call_and_is_applied_whole", func(t *testing.T) {
			e := newEnv(t, s, withSource("g1"))
			e.pull()
			ms := order("order-1", "o-1", "Order")
			e.acceptOK(1, ms...)
			e.push()
			calls := e.client.calls()
			require.Len(t, calls, 1)
			assert.True(t, calls[0].Atomic)
			assert.Len(t, calls[0].Ops, 2)
			for _, m := range ms {
				assert.Equal(t, store.MutationApplied, e.status(1, m.MutationID))
			}
		})
		t.Run("a_group_with_a_failing_change_fails_whole_and_resolves_whole", func(t *testing.T) {
			e := newEnv(t, s, withSource("g2"))
			e.pull()
			ms := order("order-2", "o-2", "Order")
			e.client.upload = func(ctx context.Context, next sdk.Client, req sdk.UploadRequest) (sdk.UploadResponse, error) {
				var resp sdk.UploadResponse
				for _, op := range req.Ops {
					r := sdk.OpResult{MutationID: op.MutationID, Status: sdk.StatusRejected, Message: "not applied: the group failed"}
					if op.Entity == "contact" {
						r.Message = "line refused"
					}
					resp.Results = append(resp.Results, r)
				}
				return resp, nil
			}
			e.acceptOK(1, ms...)
			e.push()
			assert.Equal(t, 0, e.conn.Count("contact")-10)
			errs, err := e.p.SyncErrors(ctxT(t), e.caller(1).Caller)
			require.NoError(t, err)
			require.Len(t, errs, 2)
			assert.Contains(t, errs[0].Reason, `group "order-2" failed`)
			e.client.upload = nil
			require.NoError(t, e.p.Resolve(ctxT(t), ResolveRequest{Caller: e.caller(1).Caller, ID: errs[0].ID, Resolution: ResolveKeepMine}))
			e.push()
			for _, m := range ms {
				assert.Equal(t, store.MutationApplied, e.status(1, m.MutationID), "keep_mine on one error re-sends the group")
			}
			last := e.client.calls()[len(e.client.calls())-1]
			assert.True(t, last.Atomic)
		})
		t.Run("a_group_id_is_one_set_of_mutations", func(t *testing.T) {
			e := newEnv(t, s, withSource("g3"))
			e.pull()
			ms := order("order-3", "o-3", "Order")
			e.acceptOK(1, ms...)
			e.acceptOK(1, ms...) // sent again: fine
			more := order("order-3", "o-4", "Other")
			res := e.accept(1, more...)
			require.Len(t, res.Rejected, 2)
			assert.Contains(t, res.Rejected[0].Reason, "already uploaded")
		})
		t.Run("a_group_is_refused_when_the_connector_cannot_apply_it_whole", func(t *testing.T) {
			e := newEnv(t, s, withSource("g4"))
			e.client.describe = func(d sdk.Description) sdk.Description { d.AtomicBatches = false; return d }
			e.pull()
			res := e.accept(1, order("order-5", "o-5", "Order")...)
			require.Len(t, res.Rejected, 2)
			assert.Contains(t, res.Rejected[0].Reason, "atomic")
		})
		t.Run("a_group_with_one_invalid_change_is_refused_whole", func(t *testing.T) {
			e := newEnv(t, s, withSource("g5"))
			e.pull()
			ms := order("order-6", "o-6", "")
			res := e.accept(1, ms...)
			require.Len(t, res.Rejected, 2)
			assert.Contains(t, res.Rejected[0].Reason, `group "order-6" refused`)
		})
	})
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, storetest.SQLite(t), withOptions(func(o *Options) { o.Metrics = reg }))
	e.pull()
	owner := ref("user", "u1")
	e.acceptOK(1, create("account", "m-1", map[string]any{"name": "M", "owner": owner}),
		create("account", "m-2", map[string]any{"name": "Bad", "owner": owner}))
	e.client.upload = func(ctx context.Context, next sdk.Client, req sdk.UploadRequest) (sdk.UploadResponse, error) {
		var resp sdk.UploadResponse
		var pass []sdk.Op
		for _, op := range req.Ops {
			if op.Fields["name"] == "Bad" {
				resp.Results = append(resp.Results, sdk.OpResult{MutationID: op.MutationID, Status: sdk.StatusRejected, Message: "bad"})
				continue
			}
			pass = append(pass, op)
		}
		r, err := next.Upload(ctx, sdk.UploadRequest{Ops: pass})
		resp.Results = append(resp.Results, r.Results...)
		return resp, err
	}
	e.push()
	m := e.p.m.mutations
	assert.Equal(t, 2.0, testutil.ToFloat64(m.WithLabelValues("crm", outAccepted)))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.WithLabelValues("crm", outApplied)))
	assert.Equal(t, 1.0, testutil.ToFloat64(m.WithLabelValues("crm", outRejected)))
	assert.Equal(t, 1, testutil.CollectAndCount(e.p.m.upload))
	n, err := testutil.GatherAndCount(reg, "synchub_push_latency_seconds")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}
