package memconn_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"

	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/filter"
	"github.com/synchub/synchub/sdk/sdktest"
	"github.com/synchub/synchub/sdk/sdktest/memconn"
)

func ref(entity, id string) map[string]any { return map[string]any{"entity": entity, "id": id} }

// backend is what an emulator's admin API is to a real connector: it edits
// the data of the memconn the suite made last.
type backend struct{ m **memconn.Connector }

func (b backend) Put(entity string, fields map[string]any) (string, error) {
	return (*b.m).Put(entity, fields).ID, nil
}

func (b backend) Update(entity, id string, fields map[string]any) error {
	if _, ok := (*b.m).Get(entity, id); !ok {
		return fmt.Errorf("no %s %s", entity, id)
	}
	f := maps.Clone(fields)
	f["id"] = id
	(*b.m).Put(entity, f)
	return nil
}

func (b backend) Delete(entity, id string) error {
	if !(*b.m).Delete(entity, id) {
		return fmt.Errorf("no %s %s", entity, id)
	}
	return nil
}

func TestConformance(t *testing.T) {
	var current *memconn.Connector
	edited := func(field string) func(sdk.Record) map[string]any {
		return func(r sdk.Record) map[string]any {
			return map[string]any{field: fmt.Sprint(r.Fields[field], " (edited)")}
		}
	}
	sdktest.Run(t, sdktest.Config{
		New:        func(*testing.T) sdk.Connector { current = memconn.New(memconn.WithSeed(0)); return current },
		ConfigJSON: json.RawMessage(`{"seed": 25}`),
		Backend:    backend{&current},
		PageSize:   10,
		User:       sdktest.UserConfig{Login: "User2@Example.com", ID: "u2"},
		Entities: []sdktest.EntityConfig{
			{
				Name: "account", Fields: []string{"name", "city", "owner", "revenue", "modified"},
				Filter: "city eq 'Paris' and revenue ge 5000", Writable: true,
				NewRecord: func(i int) map[string]any {
					return map[string]any{"name": fmt.Sprintf("New account %d", i), "city": "Lyon", "owner": ref("user", "u1"), "revenue": 10 * i}
				},
				Update: edited("name"),
			},
			{
				Name: "contact", Fields: []string{"name", "email", "account", "owner"},
				Filter: "startswith(email, 'contact1')", Writable: true,
				NewRecord: func(i int) map[string]any {
					return map[string]any{"name": fmt.Sprintf("New contact %d", i), "email": fmt.Sprintf("new%d@example.com", i),
						"account": ref("account", "acc-0001"), "owner": ref("user", "u2")}
				},
				Update: edited("email"),
			},
			{
				Name: "user", Fields: []string{"name", "email"}, Filter: "name eq 'User 2'",
				NewRecord: func(i int) map[string]any { return map[string]any{"name": fmt.Sprintf("New user %d", i)} },
				Update:    edited("name"),
			},
		},
	})
}

func upload(t *testing.T, m *memconn.Connector, atomic bool, ops ...sdk.Op) []sdk.OpResult {
	t.Helper()
	resp, err := m.Upload(context.Background(), sdk.UploadRequest{Ops: ops, Atomic: atomic})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	return resp.Results
}

func TestUpload(t *testing.T) {
	create := func(mut, id string, fields map[string]any) sdk.Op {
		return sdk.Op{MutationID: mut, Entity: "account", Kind: sdk.OpCreate, ID: id, Fields: fields}
	}
	acme := map[string]any{"name": "Acme", "owner": ref("user", "u1")}
	tests := []struct {
		name   string
		atomic bool
		ops    []sdk.Op
		want   []sdk.OpStatus
		check  func(t *testing.T, m *memconn.Connector, res []sdk.OpResult)
	}{
		{
			name: "a_create_with_a_client_id_is_applied_under_that_id",
			ops:  []sdk.Op{create("m1", "acme", acme)},
			want: []sdk.OpStatus{sdk.StatusApplied},
			check: func(t *testing.T, m *memconn.Connector, res []sdk.OpResult) {
				if r, ok := m.Get("account", "acme"); !ok || res[0].ID != "acme" || r.Fields["name"] != "Acme" {
					t.Errorf("result %+v, stored %+v", res[0], r)
				}
			},
		},
		{
			name: "a_create_replayed_with_the_same_mutation_answers_the_first_result",
			ops:  []sdk.Op{create("m1", "acme", acme), create("m1", "acme", acme)},
			want: []sdk.OpStatus{sdk.StatusApplied, sdk.StatusApplied},
			check: func(t *testing.T, m *memconn.Connector, res []sdk.OpResult) {
				if res[0].Record.Version != res[1].Record.Version || m.Count("account") != 11 {
					t.Errorf("versions %s and %s, %d accounts", res[0].Record.Version, res[1].Record.Version, m.Count("account"))
				}
			},
		},
		{
			name: "a_create_of_an_existing_id_from_another_mutation_is_rejected_as_a_duplicate_key",
			ops:  []sdk.Op{create("m1", "acc-0001", acme)},
			want: []sdk.OpStatus{sdk.StatusRejected},
		},
		{
			name: "an_update_at_a_stale_version_is_a_conflict_carrying_the_server_record",
			ops:  []sdk.Op{{MutationID: "m1", Entity: "account", Kind: sdk.OpUpdate, ID: "acc-0001", BaseVersion: "1", Fields: map[string]any{"city": "Rome"}}},
			want: []sdk.OpStatus{sdk.StatusConflict},
			check: func(t *testing.T, _ *memconn.Connector, res []sdk.OpResult) {
				if res[0].Record == nil || res[0].Record.Fields["city"] == "Rome" {
					t.Errorf("conflict record %+v", res[0].Record)
				}
			},
		},
		{
			name: "an_update_without_a_base_version_is_applied",
			ops:  []sdk.Op{{MutationID: "m1", Entity: "account", Kind: sdk.OpUpdate, ID: "acc-0001", Fields: map[string]any{"city": "Rome"}}},
			want: []sdk.OpStatus{sdk.StatusApplied},
		},
		{
			name: "a_delete_of_a_missing_record_is_not_found",
			ops:  []sdk.Op{{MutationID: "m1", Entity: "account", Kind: sdk.OpDelete, ID: "nope"}},
			want: []sdk.OpStatus{sdk.StatusNotFound},
		},
		{
			name: "a_create_whose_lookup_target_is_missing_is_rejected_naming_the_field",
			ops:  []sdk.Op{create("m1", "", map[string]any{"name": "Acme", "owner": ref("user", "u9")})},
			want: []sdk.OpStatus{sdk.StatusRejected},
			check: func(t *testing.T, _ *memconn.Connector, res []sdk.OpResult) {
				if fmt.Sprint(res[0].MissingLookups) != "[owner]" {
					t.Errorf("missing lookups %v", res[0].MissingLookups)
				}
			},
		},
		{
			name: "a_create_without_a_required_field_is_rejected",
			ops:  []sdk.Op{create("m1", "", map[string]any{"city": "Rome"})},
			want: []sdk.OpStatus{sdk.StatusRejected},
		},
		{
			name: "an_unknown_or_read_only_field_is_rejected",
			ops: []sdk.Op{create("m1", "", map[string]any{"name": "A", "colour": "red"}),
				create("m2", "", map[string]any{"name": "A", "modified": "2020-01-01T00:00:00Z"})},
			want: []sdk.OpStatus{sdk.StatusRejected, sdk.StatusRejected},
		},
		{
			name: "a_write_to_a_read_only_entity_is_rejected",
			ops:  []sdk.Op{{MutationID: "m1", Entity: "user", Kind: sdk.OpCreate, Fields: map[string]any{"name": "U"}}},
			want: []sdk.OpStatus{sdk.StatusRejected},
		},
		{
			name:   "an_atomic_batch_with_a_failing_op_applies_nothing",
			atomic: true,
			ops:    []sdk.Op{create("m1", "acme", acme), {MutationID: "m2", Entity: "account", Kind: sdk.OpDelete, ID: "nope"}},
			want:   []sdk.OpStatus{sdk.StatusRejected, sdk.StatusNotFound},
			check: func(t *testing.T, m *memconn.Connector, _ []sdk.OpResult) {
				if _, ok := m.Get("account", "acme"); ok {
					t.Error("acme exists after a failed atomic batch")
				}
				// The rolled-back mutation is not remembered as applied.
				if res := upload(t, m, false, create("m1", "acme", acme)); res[0].Status != sdk.StatusApplied {
					t.Errorf("the same create alone is %s", res[0].Status)
				}
			},
		},
		{
			name:   "an_atomic_batch_that_can_succeed_applies_every_op",
			atomic: true,
			ops: []sdk.Op{create("m1", "acme", acme),
				{MutationID: "m2", Entity: "contact", Kind: sdk.OpCreate, Fields: map[string]any{"name": "C", "account": ref("account", "acme")}}},
			want: []sdk.OpStatus{sdk.StatusApplied, sdk.StatusApplied},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := memconn.New()
			res := upload(t, m, tt.atomic, tt.ops...)
			for i, want := range tt.want {
				if res[i].MutationID != tt.ops[i].MutationID || res[i].Status != want {
					t.Errorf("op %d: %s is %s (%s), want %s", i, res[i].MutationID, res[i].Status, res[i].Message, want)
				}
			}
			if tt.check != nil {
				tt.check(t, m, res)
			}
		})
	}
}

func TestFaults(t *testing.T) {
	ctx := context.Background()
	fetch := func(m *memconn.Connector) (pages int, err error) {
		err = m.Fetch(ctx, sdk.FetchRequest{Entity: "account", PageSize: 4}, func(sdk.Page) error { pages++; return nil })
		return pages, err
	}
	t.Run("an_upload_applied_then_failed_is_applied_once_when_retried", func(t *testing.T) {
		m := memconn.New()
		m.SetFault(memconn.Fault{Call: "upload", Kind: memconn.FaultAfterApply, Times: 1})
		op := sdk.Op{MutationID: "m1", Entity: "account", Kind: sdk.OpCreate, ID: "acme", Fields: map[string]any{"name": "Acme"}}
		if _, err := m.Upload(ctx, sdk.UploadRequest{Ops: []sdk.Op{op}}); sdk.CodeOf(err) != sdk.CodeUnavailable {
			t.Fatalf("first upload: %v, want an unavailable error", err)
		}
		if _, ok := m.Get("account", "acme"); !ok {
			t.Fatal("the failed upload was not applied")
		}
		if res := upload(t, m, false, op); res[0].Status != sdk.StatusApplied || m.Count("account") != 11 {
			t.Errorf("retry is %s with %d accounts, want applied with 11", res[0].Status, m.Count("account"))
		}
	})
	t.Run("a_fault_set_to_fail_twice_fails_two_calls_then_clears", func(t *testing.T) {
		m := memconn.New()
		m.SetFault(memconn.Fault{Call: "fetch", Kind: memconn.FaultError, Times: 2})
		for i, wantErr := range []bool{true, true, false} {
			if _, err := fetch(m); (err != nil) != wantErr {
				t.Errorf("call %d: error %v", i, err)
			}
		}
	})
	t.Run("a_throttle_fault_carries_retry_after", func(t *testing.T) {
		m := memconn.New()
		m.SetFault(memconn.Fault{Call: "check", Kind: memconn.FaultThrottle, RetryAfterMS: 1500})
		_, err := m.Check(ctx)
		var se *sdk.Error
		if !errors.As(err, &se) || se.Code != sdk.CodeThrottled || se.RetryAfter.Milliseconds() != 1500 {
			t.Errorf("Check: %v", err)
		}
	})
	t.Run("a_fetch_fault_after_pages_interrupts_a_pass_in_the_middle", func(t *testing.T) {
		m := memconn.New()
		m.SetFault(memconn.Fault{Call: "fetch", Kind: memconn.FaultError, AfterPages: 2, Times: 1})
		if pages, err := fetch(m); pages != 2 || err == nil {
			t.Errorf("%d pages, error %v; want 2 pages then an error", pages, err)
		}
	})
}

func TestConfigure(t *testing.T) {
	tests := []struct {
		name     string
		config   string
		wantCode sdk.ErrorCode // "" for success
		accounts int
	}{
		{"an_empty_config_keeps_the_data", `{}`, "", 10},
		{"a_seed_replaces_the_data", `{"seed": 3}`, "", 3},
		{"seed_zero_empties_the_back_end", `{"seed": 0}`, "", 0},
		{"an_unknown_key_is_rejected", `{"sede": 3}`, sdk.CodeInvalidConfig, 10},
		{"a_negative_seed_is_rejected", `{"seed": -1}`, sdk.CodeInvalidConfig, 10},
		{"a_fault_of_an_unknown_call_is_rejected", `{"fail": [{"call": "nap", "kind": "error"}]}`, sdk.CodeInvalidConfig, 10},
		{"after_apply_on_a_call_other_than_upload_is_rejected", `{"fail": [{"call": "fetch", "kind": "after_apply"}]}`, sdk.CodeInvalidConfig, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := memconn.New()
			err := m.Configure(context.Background(), sdk.ConfigureRequest{Config: json.RawMessage(tt.config)})
			if (tt.wantCode == "" && err != nil) || (tt.wantCode != "" && sdk.CodeOf(err) != tt.wantCode) {
				t.Errorf("Configure(%s) = %v, want code %q", tt.config, err, tt.wantCode)
			}
			if n := m.Count("account"); n != tt.accounts {
				t.Errorf("%d accounts, want %d", n, tt.accounts)
			}
		})
	}
	t.Run("page_size_cap_caps_the_pages_the_host_asks_for", func(t *testing.T) {
		m := memconn.New()
		if err := m.Configure(context.Background(), sdk.ConfigureRequest{Config: json.RawMessage(`{"page_size_cap": 4}`)}); err != nil {
			t.Fatal(err)
		}
		var sizes []int
		_ = m.Fetch(context.Background(), sdk.FetchRequest{Entity: "account", PageSize: 100}, func(pg sdk.Page) error {
			sizes = append(sizes, len(pg.Records))
			return nil
		})
		if fmt.Sprint(sizes) != "[4 4 2]" {
			t.Errorf("page sizes %v, want [4 4 2]", sizes)
		}
	})
}

// A change made to an already-served record while a full pass runs is in
// the incremental pass from the full pass's cursor (DESIGN §7).
func TestChangesDuringAFullPassAreFetchedByTheNextIncrementalPass(t *testing.T) {
	ctx := context.Background()
	m := memconn.New()
	var final string
	err := m.Fetch(ctx, sdk.FetchRequest{Entity: "account", PageSize: 4}, func(pg sdk.Page) error {
		if final == "" { // after the first page, which served acc-0001
			m.Put("account", map[string]any{"id": "acc-0001", "city": "Rome"})
		}
		final = pg.Cursor
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	err = m.Fetch(ctx, sdk.FetchRequest{Entity: "account", Incremental: true, Cursor: final}, func(pg sdk.Page) error {
		for _, r := range pg.Records {
			got = append(got, fmt.Sprint(r.ID, " ", r.Fields["city"]))
		}
		return nil
	})
	if err != nil || fmt.Sprint(got) != "[acc-0001 Rome]" {
		t.Errorf("incremental pass: %v, %v; want [acc-0001 Rome]", got, err)
	}
}

func TestListIDsEvaluatesTheFilter(t *testing.T) {
	m := memconn.New()
	f, err := filter.Parse("owner eq 'u2' and revenue lt 5000")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	if err := m.ListIDs(context.Background(), sdk.ListIDsRequest{Entity: "account", Filter: f}, func(p []string) error {
		ids = append(ids, p...)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids) != "[acc-0001 acc-0004]" {
		t.Errorf("ids %v, want [acc-0001 acc-0004]", ids)
	}
}

// Run with -race: hooks, passes and uploads share the store.
func TestConcurrentUseIsSafe(t *testing.T) {
	m := memconn.New()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				id := fmt.Sprintf("g%d-%d", g, i)
				m.Put("account", map[string]any{"id": id, "name": id})
				_ = m.Fetch(context.Background(), sdk.FetchRequest{Entity: "account", PageSize: 7}, func(sdk.Page) error { return nil })
				op := sdk.Op{MutationID: id, Entity: "account", Kind: sdk.OpUpdate, ID: id, Fields: map[string]any{"city": "X"}}
				if _, err := m.Upload(context.Background(), sdk.UploadRequest{Ops: []sdk.Op{op}, Atomic: g%2 == 0}); err != nil {
					t.Error(err)
				}
				m.Delete("account", id)
			}
		})
	}
	wg.Wait()
	if n := m.Count("account"); n != 10 {
		t.Errorf("%d accounts after balanced writes, want 10", n)
	}
}
