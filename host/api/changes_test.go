package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/store"
)

// seedCRM mirrors records in every kind of crm partition.
func seedCRM(e *env) {
	e.put("crm",
		record{"account", "acc-a1", "1", map[string]any{"name": "Alpha", "ownerid": "A-1"}},
		record{"account", "acc-a2", "1", map[string]any{"name": "Alpha 2", "ownerid": map[string]any{"entity": "systemuser", "id": "a-1"}}},
		record{"account", "acc-b1", "1", map[string]any{"name": "Beta", "ownerid": "B-2"}},
		record{"account", "acc-z", "1", map[string]any{"name": "Nobody's", "ownerid": "Z"}},
		record{"account", "acc-none", "1", map[string]any{"name": "No owner"}},
		record{"contact", "c-a1", "1", map[string]any{"fullname": "Ann", "ownerid": "A-1"}},
		record{"contact", "c-b1", "1", map[string]any{"fullname": "Ben", "ownerid": "B-2"}},
		record{"team_doc", "td-red", "1", map[string]any{"teamid": "red"}},
		record{"team_doc", "td-blue", "1", map[string]any{"teamid": "BLUE"}},
	)
	for _, id := range []string{"p1", "p2", "p3", "p4", "p5"} {
		e.put("crm", record{"product", id, "1", map[string]any{"name": "Product " + id}})
	}
}

// idsOf returns "entity/id" of the puts, sorted.
func idsOf(ops []opJSON) []string {
	var out []string
	for _, o := range ops {
		if o.Op == "put" {
			out = append(out, o.Entity+"/"+o.ID)
		}
	}
	sort.Strings(out)
	return out
}

// opKeys returns "op entity/id" in wire order.
func opKeys(ops []opJSON) []string {
	out := make([]string, len(ops))
	for i, o := range ops {
		out[i] = o.Op + " " + o.Entity + "/" + o.ID
	}
	return out
}

func assertSeqOrder(t *testing.T, ops []opJSON) {
	t.Helper()
	for i := 1; i < len(ops); i++ {
		require.Less(t, ops[i-1].Seq, ops[i].Seq, "ops in seq order")
	}
}

var productIDs = []string{"product/p1", "product/p2", "product/p3", "product/p4", "product/p5"}

func TestChangesPaging(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		seedCRM(e)
		want := map[string][]string{
			"alice": append([]string{"account/acc-a1", "account/acc-a2", "contact/c-a1", "team_doc/td-red"}, productIDs...),
			"bob":   append([]string{"account/acc-b1", "contact/c-b1", "team_doc/td-blue"}, productIDs...),
			"carol": productIDs,
		}
		for _, user := range []string{"alice", "bob", "carol"} {
			t.Run(user+"_pages_through_exactly_their_partitions_and_the_shared_ones", func(t *testing.T) {
				tok := e.token(user)
				for _, limit := range []int{1, 2, 3, 500} {
					ops, cp, resets := e.syncAll(tok, "crm", "", limit)
					assertSeqOrder(t, ops)
					assert.Empty(t, resets)
					got := idsOf(ops)
					exp := slices.Clone(want[user])
					sort.Strings(exp)
					assert.Equal(t, exp, got, "limit %d", limit)
					for _, o := range ops {
						assert.Equal(t, "put", o.Op, "a full sync sends no removes")
						assert.NotEmpty(t, o.Fields)
						assert.Equal(t, "1", o.Version)
					}
					again := e.fetch(tok, "crm", cp, limit)
					assert.Empty(t, again.Ops, "a checkpoint reused after the end gives no ops")
					assert.False(t, again.HasMore)
					assert.NotNil(t, again.Applied)
					assert.Empty(t, again.Applied)
				}
			})
		}
		t.Run("the_response_has_the_documented_shape", func(t *testing.T) {
			r := e.do("GET", changesURL("crm", "", 2), e.token("alice"), nil)
			require.Equal(t, http.StatusOK, r.Code)
			var raw map[string]json.RawMessage
			r.json(t, &raw)
			keys := make([]string, 0, len(raw))
			for k := range raw {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			assert.Equal(t, []string{"applied", "checkpoint", "has_more", "ops", "reset"}, keys)
			var ops []map[string]any
			require.NoError(t, json.Unmarshal(raw["ops"], &ops))
			require.Len(t, ops, 2)
			for _, k := range []string{"seq", "partition", "entity", "id", "op", "version", "fields"} {
				assert.Contains(t, ops[0], k)
			}
			assert.Equal(t, "true", string(raw["has_more"]))
		})
		t.Run("the_puller_is_asked_to_freshen_the_mirror_and_its_failure_is_not_fatal", func(t *testing.T) {
			e.puller.mu.Lock()
			e.puller.fresh = nil
			e.puller.freshErr = errBoom
			e.puller.mu.Unlock()
			defer func() { e.puller.mu.Lock(); e.puller.freshErr = nil; e.puller.mu.Unlock() }()
			e.fetch(e.token("alice"), "crm", "", 10)
			e.puller.mu.Lock()
			defer e.puller.mu.Unlock()
			assert.Equal(t, []string{"crm"}, e.puller.fresh)
		})
	})
}

func TestChangesIncremental(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		seedCRM(e)
		alice, bob := e.token("alice"), e.token("bob")
		_, cpA, _ := e.syncAll(alice, "crm", "", 3)
		_, cpB, _ := e.syncAll(bob, "crm", "", 3)

		// An update, an owner move from bob to alice, a delete, and a change
		// in nobody's partition.
		e.put("crm",
			record{"account", "acc-a1", "2", map[string]any{"name": "Alpha!", "ownerid": "A-1"}},
			record{"account", "acc-b1", "2", map[string]any{"name": "Beta", "ownerid": "a-1"}},
			record{"account", "acc-z", "2", map[string]any{"name": "Still nobody's", "ownerid": "Z"}},
		)
		e.remove("crm", "contact", "c-a1")
		e.put("crm", record{"product", "p1", "1", map[string]any{"name": "Product p1"}}) // unchanged: no op

		ops, cpA2, _ := e.syncAll(alice, "crm", cpA, 1)
		assertSeqOrder(t, ops)
		assert.Equal(t, []string{"put account/acc-a1", "put account/acc-b1", "remove contact/c-a1"}, opKeys(ops))
		for _, o := range ops {
			if o.Op == "remove" {
				assert.Empty(t, o.Version)
				assert.Nil(t, o.Fields)
			}
		}
		ops, _, _ = e.syncAll(bob, "crm", cpB, 1)
		assert.Equal(t, []string{"remove account/acc-b1"}, opKeys(ops), "the record left bob's partition")
		assert.Equal(t, "account/owner=b-2", ops[0].Partition)

		again := e.fetch(alice, "crm", cpA2, 10)
		assert.Empty(t, again.Ops)
	})
}

func TestChangesReset(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		seedCRM(e)
		alice := e.token("alice")
		_, cp, _ := e.syncAll(alice, "crm", "", 100)
		ctx := context.Background()

		t.Run("a_checkpoint_below_the_tombstone_floor_resets_that_partition_only", func(t *testing.T) {
			e.remove("crm", "account", "acc-a2")
			_, err := e.st.ExpireTombstones(ctx, "crm", time.Now().Add(time.Hour))
			require.NoError(t, err)
			p := e.fetch(alice, "crm", cp, 100)
			assert.Equal(t, []string{"account/owner=a-1"}, p.Reset)
			assert.Equal(t, []string{"put account/acc-a1"}, opKeys(p.Ops), "the partition follows again from 0")
			assert.False(t, p.HasMore)
			next := e.fetch(alice, "crm", p.Checkpoint, 100)
			assert.Empty(t, next.Reset)
			assert.Empty(t, next.Ops)
			cp = p.Checkpoint
		})
		t.Run("a_checkpoint_ahead_of_the_source_resets_its_partitions", func(t *testing.T) {
			// As after restoring the database from an older backup.
			u, err := e.st.UserByName(ctx, "alice")
			require.NoError(t, err)
			ahead := signCheckpoint(e.srv.ckKey, checkpoint{Version: 1, Source: "crm", User: u.ID, Device: "alice-phone",
				Seqs: map[string]int64{"account/owner=a-1": 1 << 40, "product/*": 1}})
			p := e.fetch(alice, "crm", ahead, 100)
			assert.Equal(t, []string{"account/owner=a-1"}, p.Reset)
			assert.Contains(t, opKeys(p.Ops), "put account/acc-a1")
		})
		t.Run("a_partition_new_to_the_subscription_starts_at_zero_and_one_that_left_is_reset", func(t *testing.T) {
			e.cfg.Users[0].Identities["crm"] = config.Identity{ID: "A-1", Attributes: map[string]string{"team": "BLUE"}}
			require.NoError(t, e.srv.SyncUsers(ctx))
			p := e.fetch(alice, "crm", cp, 100)
			assert.Equal(t, []string{"team_doc/team=red"}, p.Reset)
			assert.Equal(t, []string{"put team_doc/td-blue"}, opKeys(p.Ops))
		})
	})
}

func TestChangesCheckpointMisuse(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		seedCRM(e)
		e.put("erp", record{"item", "i1", "1", map[string]any{"no": "i1"}})
		alice := e.token("alice")
		tablet := e.login("alice", "alice-tablet").AccessToken
		bob := e.token("bob")
		first := e.fetch(alice, "crm", "", 2)
		require.True(t, first.HasMore)
		cp := first.Checkpoint
		payload, sig, _ := strings.Cut(cp, ".")

		forged := signCheckpoint([]byte(strings.Repeat("x", 32)), checkpoint{Version: 1, Source: "crm", User: 2,
			Device: "bob-phone", Seqs: map[string]int64{"account/owner=a-1": 0}})
		flipped := []byte(payload)
		flipped[len(flipped)/2] ^= 1
		for _, tc := range []struct {
			name, token, checkpoint string
			code, message           string
		}{
			{"a_tampered_payload_is_refused", alice, string(flipped) + "." + sig, codeInvalidCheckpoint, "checkpoint signature does not match"},
			{"a_checkpoint_signed_with_another_key_is_refused", alice, forged, codeInvalidCheckpoint, "checkpoint signature does not match"},
			{"a_checkpoint_without_signature_is_malformed", alice, payload, codeInvalidCheckpoint, "checkpoint is malformed"},
			{"garbage_is_malformed", alice, "%%%.%%%", codeInvalidCheckpoint, "checkpoint is malformed"},
			{"another_users_checkpoint_is_refused", bob, cp, codeCheckpointMismatch, "checkpoint belongs to another user"},
			{"another_devices_checkpoint_is_refused", tablet, cp, codeCheckpointMismatch, "checkpoint belongs to another device"},
			{"another_sources_checkpoint_is_refused", alice, cp, codeCheckpointMismatch, "checkpoint belongs to another source"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				source := "crm"
				if strings.Contains(tc.name, "sources") {
					source = "erp"
				}
				r := e.do("GET", "/v1/sources/"+source+"/changes?checkpoint="+url.QueryEscape(tc.checkpoint), tc.token, nil)
				assert.Equal(t, http.StatusBadRequest, r.Code)
				got := r.errorBody(t)
				assert.Equal(t, tc.code, got.Code)
				assert.Contains(t, got.Message, tc.message)
				assert.NotContains(t, r.Body.String(), `"ops"`, "never data")
			})
		}
	})
}

func TestChangesLimit(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		alice := e.token("alice")
		for _, tc := range []struct {
			limit string
			want  int
		}{
			{"", http.StatusOK}, {"1", http.StatusOK}, {"5000", http.StatusOK},
			{"0", http.StatusBadRequest}, {"5001", http.StatusBadRequest}, {"-1", http.StatusBadRequest},
			{"ten", http.StatusBadRequest}, {"1.5", http.StatusBadRequest},
		} {
			t.Run("limit_"+tc.limit, func(t *testing.T) {
				r := e.do("GET", "/v1/sources/crm/changes?limit="+tc.limit, alice, nil)
				assert.Equal(t, tc.want, r.Code, r.Body.String())
				if tc.want == http.StatusBadRequest {
					assert.Equal(t, codeInvalidParameter, r.errorBody(t).Code)
					assert.Contains(t, r.errorBody(t).Message, "limit")
				}
			})
		}
	})
}

func TestChangesGzip(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		seedCRM(e)
		var bulk []record
		for i := range 200 {
			bulk = append(bulk, record{"product", fmt.Sprintf("bulk-%03d", i), "1",
				map[string]any{"name": strings.Repeat("compressible ", 20)}})
		}
		e.put("crm", bulk...)
		alice := e.token("alice")
		plain := e.do("GET", changesURL("crm", "", 5000), alice, nil)
		require.Equal(t, http.StatusOK, plain.Code)
		assert.Empty(t, plain.Header().Get("Content-Encoding"))

		for _, accept := range []string{"gzip", "br;q=1.0, gzip;q=0.5", "*"} {
			t.Run("accept_encoding_"+accept+"_gets_gzip", func(t *testing.T) {
				r := e.do("GET", changesURL("crm", "", 5000), alice, nil, "Accept-Encoding", accept)
				require.Equal(t, http.StatusOK, r.Code)
				assert.Equal(t, "gzip", r.Header().Get("Content-Encoding"))
				assert.Less(t, r.Body.Len(), plain.Body.Len()/3)
				zr, err := gzip.NewReader(bytes.NewReader(r.Body.Bytes()))
				require.NoError(t, err)
				body, err := io.ReadAll(zr)
				require.NoError(t, err)
				var a, b page
				require.NoError(t, json.Unmarshal(body, &a))
				require.NoError(t, json.Unmarshal(plain.Body.Bytes(), &b))
				assert.Equal(t, b.Ops, a.Ops)
			})
		}
		t.Run("an_answer_without_ops_is_not_compressed", func(t *testing.T) {
			var p page
			require.NoError(t, json.Unmarshal(plain.Body.Bytes(), &p))
			require.False(t, p.HasMore)
			again := e.do("GET", changesURL("crm", p.Checkpoint, 10), alice, nil, "Accept-Encoding", "gzip")
			require.Equal(t, http.StatusOK, again.Code)
			assert.Empty(t, again.Header().Get("Content-Encoding"))
			var q page
			again.json(t, &q)
			assert.Empty(t, q.Ops)
		})
		for _, accept := range []string{"gzip;q=0", "identity", "gzip;q=0, *"} {
			t.Run("accept_encoding_"+accept+"_gets_plain_json", func(t *testing.T) {
				r := e.do("GET", changesURL("crm", "", 10), alice, nil, "Accept-Encoding", accept)
				assert.Empty(t, r.Header().Get("Content-Encoding"))
				var p page
				r.json(t, &p)
			})
		}
	})
}

func TestChangesStreamsInSeqOrderAcrossManyPages(t *testing.T) {
	forEachDB(t, func(t *testing.T, e *env) {
		var recs []record
		for i := range 300 {
			owner := []string{"A-1", "B-2"}[i%2]
			recs = append(recs, record{"account", fmt.Sprintf("acc-%03d", i), "1",
				map[string]any{"name": "n", "ownerid": owner}})
		}
		e.put("crm", recs...)
		e.put("crm", record{"product", "p", "1", map[string]any{"name": "p"}})
		ops, _, _ := e.syncAll(e.token("alice"), "crm", "", 7)
		assertSeqOrder(t, ops)
		assert.Len(t, ops, 151)

		// The result matches a direct query of the mirror.
		var direct []store.ChangeOp
		_, _, err := e.st.Changes(context.Background(), "crm", map[string]int64{
			"account/owner=a-1": 0, "contact/owner=a-1": 0, "team_doc/team=red": 0, "product/*": 0}, 5000,
			func(op store.ChangeOp) error { direct = append(direct, op); return nil })
		require.NoError(t, err)
		require.Len(t, direct, len(ops))
		for i := range ops {
			assert.Equal(t, direct[i].ID, ops[i].ID)
		}
	})
}
