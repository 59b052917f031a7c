package client

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/client/internal/fakehub"
)

func ids(recs []Record) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

func (e *env) list(entity string) []Record {
	e.t.Helper()
	recs, err := e.c.List(e.ctx, "crm", entity, "")
	require.NoError(e.t, err)
	return recs
}

func (e *env) checkpoint() string {
	e.t.Helper()
	var st sourceRow
	require.NoError(e.t, e.c.db.Where("name = ?", "crm").First(&st).Error)
	return st.Checkpoint
}

func (e *env) setHub(fn func(h *fakehub.Hub)) {
	e.hub.Lock()
	defer e.hub.Unlock()
	fn(e.hub)
}

func TestSync(t *testing.T) {
	t.Run("first_sync_pages_through_every_change_and_logs_each_phase", func(t *testing.T) {
		e := newEnv(t)
		for i := range 25 {
			e.hub.Put("crm", "account", fmt.Sprintf("a%02d", i), "", map[string]any{"name": fmt.Sprintf("Account %d", i), "revenue": i})
		}
		e.c.opts.PageSize = 10
		rep := e.sync()
		require.Len(t, rep.Sources, 1)
		assert.Equal(t, 3, rep.Sources[0].Pages)
		assert.Equal(t, 25, rep.Sources[0].Ops)
		assert.True(t, rep.Sources[0].FullSync)
		assert.Len(t, e.list("account"), 25)
		logs, err := e.c.SyncLog(e.ctx, 10)
		require.NoError(t, err)
		var phases []string
		for _, l := range logs {
			phases = append(phases, l.Phase)
		}
		assert.Subset(t, phases, []string{"UploadSync", "DownloadSync", "FileSync", "Sync"})
		for _, l := range logs {
			if l.Phase == "DownloadSync" {
				assert.Contains(t, l.Summary, "DownloadSync Ops=25 Pages=3")
				assert.Contains(t, l.Summary, "TotalTime=")
			}
		}
		rep = e.sync()
		assert.Equal(t, 0, rep.Sources[0].Ops, "an incremental sync with nothing new")
		assert.False(t, rep.Sources[0].FullSync)
	})

	t.Run("list_filters_with_the_odata_subset", func(t *testing.T) {
		e := newEnv(t)
		e.hub.Put("crm", "account", "a1", "", map[string]any{"name": "Contoso", "revenue": 10})
		e.hub.Put("crm", "account", "a2", "", map[string]any{"name": "Fabrikam", "revenue": 99})
		e.sync()
		recs, err := e.c.List(e.ctx, "", "account", "revenue gt 50")
		require.NoError(t, err)
		assert.Equal(t, []string{"a2"}, ids(recs))
		_, err = e.c.List(e.ctx, "", "account", "revenue gt")
		require.Error(t, err)
	})

	t.Run("pull_never_overwrites_a_record_with_a_pending_edit", func(t *testing.T) {
		e := newEnv(t)
		e.hub.Put("crm", "account", "a1", "", map[string]any{"name": "Old", "revenue": 1})
		e.sync()
		e.setHub(func(h *fakehub.Hub) { h.ApplyMutations = false })
		require.NoError(t, e.c.Update(e.ctx, "crm", "account", "a1", map[string]any{"name": "Mine"}))
		e.hub.Put("crm", "account", "a1", "", map[string]any{"name": "Server", "revenue": 2})
		e.sync()
		r, _ := e.get("account", "a1")
		assert.Equal(t, "Mine", r.Fields["name"])
		assert.Equal(t, OpUpdate, r.Pending)
		var sh shadowRow
		require.NoError(t, e.c.db.Where("id = ?", "a1").First(&sh).Error)
		assert.Contains(t, sh.Fields, "Server", "the server's version is kept aside")
	})

	t.Run("a_page_mixing_edited_and_plain_records_applies_each_as_it_should", func(t *testing.T) {
		e := newEnv(t)
		for _, id := range []string{"a1", "a2", "a3"} {
			e.hub.Put("crm", "account", id, "", map[string]any{"name": "Old " + id})
		}
		e.sync()
		e.setHub(func(h *fakehub.Hub) { h.ApplyMutations = false })
		require.NoError(t, e.c.Update(e.ctx, "crm", "account", "a1", map[string]any{"name": "Mine"}))
		for _, id := range []string{"a1", "a2", "a4"} {
			e.hub.Put("crm", "account", id, "", map[string]any{"name": "Server " + id})
		}
		e.hub.Remove("crm", "account", "a3")
		e.sync()
		r, _ := e.get("account", "a1")
		assert.Equal(t, "Mine", r.Fields["name"], "the edited record keeps its edit")
		var sh shadowRow
		require.NoError(t, e.c.db.Where("id = ?", "a1").First(&sh).Error)
		assert.Contains(t, sh.Fields, "Server a1")
		r, _ = e.get("account", "a2")
		assert.Equal(t, "Server a2", r.Fields["name"], "a plain record takes the server's version")
		r, ok := e.get("account", "a4")
		require.True(t, ok, "a new record arrives")
		assert.Equal(t, "Server a4", r.Fields["name"])
		_, ok = e.get("account", "a3")
		assert.False(t, ok, "a removed record goes")
		assert.Equal(t, []string{"a1", "a2", "a4"}, ids(e.list("account")))
	})

	t.Run("pending_edit_goes_when_applied_and_the_server_version_arrive_together", func(t *testing.T) {
		e := newEnv(t)
		e.hub.Put("crm", "account", "a1", "", map[string]any{"name": "Old"})
		e.sync()
		require.NoError(t, e.c.Update(e.ctx, "crm", "account", "a1", map[string]any{"name": "Mine"}))
		rep := e.sync()
		assert.Equal(t, 1, rep.Sources[0].Sent)
		assert.Equal(t, 1, rep.Sources[0].Applied)
		assert.Empty(t, e.changes())
		r, _ := e.get("account", "a1")
		_, ver, _ := e.hub.Record("crm", "account", "a1")
		assert.Equal(t, ver, r.Version)
		assert.Equal(t, "Mine", r.Fields["name"])
		assert.Empty(t, r.Pending)
	})

	t.Run("pending_edit_stays_while_the_server_version_arrives_without_applied", func(t *testing.T) {
		e := newEnv(t)
		e.hub.Put("crm", "account", "a1", "", map[string]any{"name": "Old"})
		e.sync()
		e.setHub(func(h *fakehub.Hub) { h.ApplyMutations, h.HoldApplied = false, true })
		require.NoError(t, e.c.Update(e.ctx, "crm", "account", "a1", map[string]any{"name": "Mine"}))
		e.sync()
		e.hub.ApplyPending()
		e.sync()
		chs := e.changes()
		require.Len(t, chs, 1, "server version alone does not drop the edit")
		assert.False(t, chs[0].Applied)
		r, _ := e.get("account", "a1")
		assert.Equal(t, "v1", r.Version, "the local record is untouched")

		e.setHub(func(h *fakehub.Hub) { h.HoldApplied = false })
		e.sync()
		assert.Empty(t, e.changes(), "applied after the version arrived drops it")
		r, _ = e.get("account", "a1")
		_, ver, _ := e.hub.Record("crm", "account", "a1")
		assert.Equal(t, ver, r.Version, "the record takes the server version kept aside")
		assert.Equal(t, "Mine", r.Fields["name"])
	})

	t.Run("applied_reported_before_the_server_version_waits_for_it", func(t *testing.T) {
		e := newEnv(t)
		e.hub.Put("crm", "account", "a1", "", map[string]any{"name": "Old"})
		e.sync()
		e.hub.Put("crm", "account", "x1", "", map[string]any{"name": "X1"})
		e.hub.Put("crm", "account", "x2", "", map[string]any{"name": "X2"})
		require.NoError(t, e.c.Update(e.ctx, "crm", "account", "a1", map[string]any{"name": "Mine"}))
		e.c.opts.PageSize = 1
		// Page 1 carries applied (and x1); page 2 fails: the a1 put has not arrived.
		e.setHub(func(h *fakehub.Hub) { h.FailChanges = 4 })
		_, err := e.c.Sync(e.ctx, SyncOptions{})
		require.Error(t, err)
		chs := e.changes()
		require.Len(t, chs, 1)
		assert.True(t, chs[0].Applied)
		r, _ := e.get("account", "a1")
		assert.Equal(t, "v1", r.Version)
		e.sync()
		assert.Empty(t, e.changes())
		r, _ = e.get("account", "a1")
		_, ver, _ := e.hub.Record("crm", "account", "a1")
		assert.Equal(t, ver, r.Version)
		assert.NotEqual(t, "v1", ver)
	})

	t.Run("create_keyed_by_the_back_end_is_rekeyed_with_its_childrens_lookups", func(t *testing.T) {
		e := newEnv(t)
		e.sync()
		e.setHub(func(h *fakehub.Hub) { h.ServerIDs, h.ApplyMutations = true, false })
		acc, err := e.c.Create(e.ctx, "crm", "account", map[string]any{"name": "New Co"})
		require.NoError(t, err)
		e.sync() // the create goes out, the back end has not applied it yet
		kid, err := e.c.Create(e.ctx, "crm", "contact", map[string]any{"fullname": "Kim",
			"parentcustomerid": map[string]any{"entity": "account", "id": acc}})
		require.NoError(t, err)
		e.hub.ApplyPending()
		// Download only: the child's create is still unsent when the parent is re-keyed.
		require.NoError(t, e.c.download(e.ctx, "crm", &SourceReport{}, func(Event) {}))
		_, ok := e.get("account", acc)
		assert.False(t, ok, "the client id is gone")
		r, ok := e.get("account", "srv-1")
		require.True(t, ok)
		assert.Equal(t, "New Co", r.Fields["name"])
		k, _ := e.get("contact", kid)
		assert.Equal(t, "srv-1", k.Fields["parentcustomerid"].(map[string]any)["id"], "local lookup re-keyed")
		chs := e.changes()
		require.Len(t, chs, 1)
		assert.Equal(t, "srv-1", chs[0].Fields["parentcustomerid"].(map[string]any)["id"], "pending lookup re-keyed")

		e.setHub(func(h *fakehub.Hub) { h.ApplyMutations = true })
		e.sync()
		assert.Empty(t, e.changes())
		contacts := e.list("contact")
		require.Len(t, contacts, 1)
		assert.Equal(t, "srv-2", contacts[0].ID)
		assert.Equal(t, "srv-1", contacts[0].Fields["parentcustomerid"].(map[string]any)["id"])
		assert.Equal(t, []string{"srv-1"}, ids(e.list("account")), "no echo of the device's own create")
	})

	t.Run("crash_between_pages_keeps_the_first_page_and_its_checkpoint", func(t *testing.T) {
		e := newEnv(t)
		for i := range 5 {
			e.hub.Put("crm", "account", fmt.Sprintf("a%d", i), "", map[string]any{"name": "n"})
		}
		e.c.opts.PageSize = 2
		e.setHub(func(h *fakehub.Hub) { h.FailChanges = 2 })
		_, err := e.c.Sync(e.ctx, SyncOptions{})
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, []string{"a0", "a1"}, ids(e.list("account")))
		first := e.checkpoint()
		require.NotEmpty(t, first)

		e.reopen()
		e.c.opts.PageSize = 2
		rep := e.sync()
		assert.Equal(t, []string{"a0", "a1", "a2", "a3", "a4"}, ids(e.list("account")))
		assert.Equal(t, 3, rep.Sources[0].Ops, "resumed after the committed page: nothing applied twice")
		var resumed bool
		for _, c := range e.hub.Calls() {
			resumed = resumed || strings.Contains(c, "checkpoint="+first)
		}
		assert.True(t, resumed, "the second sync resumed from the first page's checkpoint")
	})

	t.Run("reset_partition_is_cleared_and_refetched_keeping_local_edits", func(t *testing.T) {
		e := newEnv(t)
		part := "account/owner=1"
		for _, id := range []string{"a1", "a2", "a3"} {
			e.hub.Put("crm", "account", id, part, map[string]any{"name": id})
		}
		e.sync()
		e.setHub(func(h *fakehub.Hub) { h.ApplyMutations = false })
		require.NoError(t, e.c.Update(e.ctx, "crm", "account", "a3", map[string]any{"name": "mine"}))
		e.hub.Remove("crm", "account", "a2")
		e.hub.ExpireTombstones("crm", part)
		rep := e.sync()
		assert.Equal(t, 1, rep.Sources[0].Resets)
		assert.Equal(t, []string{"a1", "a3"}, ids(e.list("account")))
		r, _ := e.get("account", "a3")
		assert.Equal(t, "mine", r.Fields["name"])
	})

	t.Run("schema_hash_change_uploads_first_then_resyncs_in_full", func(t *testing.T) {
		e := newEnv(t)
		e.hub.Put("crm", "account", "a1", "", map[string]any{"name": "A"})
		e.hub.Put("crm", "account", "b1", "", map[string]any{"name": "B"})
		e.hub.Put("crm", "contact", "k1", "", map[string]any{"fullname": "K"})
		e.sync()
		require.NoError(t, e.c.Update(e.ctx, "crm", "account", "a1", map[string]any{"name": "A2"}))
		schema := crmSchema("1")
		schema[0].Hash = "acc-2"
		schema[0].Fields = append(schema[0].Fields, fakehub.Field{Name: "phone", Type: "string"})
		e.hub.SetSchema("crm", schema...)
		e.hub.Remove("crm", "account", "b1")
		before := len(e.hub.Calls())
		rep := e.sync()
		assert.Equal(t, []string{"account"}, rep.Sources[0].SchemaChanged)
		assert.True(t, rep.Sources[0].FullSync)
		calls := e.hub.Calls()[before:]
		post := slices.IndexFunc(calls, func(c string) bool { return strings.HasPrefix(c, "POST /v1/sources/crm/mutations") })
		get := slices.IndexFunc(calls, func(c string) bool { return strings.HasPrefix(c, "GET /v1/sources/crm/changes") })
		require.True(t, post >= 0 && get >= 0)
		assert.Less(t, post, get, "upload before the resync")
		assert.Contains(t, calls[get], "checkpoint=&", "a full sync")
		assert.Equal(t, []string{"a1"}, ids(e.list("account")), "the full pass swept the record the server removed")
		r, _ := e.get("account", "a1")
		assert.Equal(t, "A2", r.Fields["name"])
		assert.Len(t, e.list("contact"), 1)
		ent, err := e.c.Entity(e.ctx, "crm", "account")
		require.NoError(t, err)
		_, ok := ent.Field("phone")
		assert.True(t, ok, "the new schema is stored")
	})

	t.Run("delete_reaches_the_hub_and_the_record_stays_gone", func(t *testing.T) {
		e := newEnv(t)
		e.hub.Put("crm", "account", "a1", "", map[string]any{"name": "A"})
		e.sync()
		require.NoError(t, e.c.Delete(e.ctx, "crm", "account", "a1"))
		_, ok := e.get("account", "a1")
		assert.False(t, ok)
		e.sync()
		assert.Empty(t, e.changes())
		assert.Empty(t, e.hub.Records("crm", "account"))
		assert.Empty(t, e.list("account"))
	})

	t.Run("expired_access_token_is_refreshed_silently_once", func(t *testing.T) {
		e := newEnv(t)
		e.sync()
		e.hub.ExpireAccessTokens()
		e.sync()
		n := 0
		for _, c := range e.hub.Calls() {
			if strings.HasPrefix(c, "POST /v1/auth/refresh") {
				n++
			}
		}
		assert.Equal(t, 1, n)
		e.hub.ExpireAccessTokens()
		e.sync() // the rotated refresh token was saved and works
	})

	t.Run("refresh_token_refused_means_log_in_again", func(t *testing.T) {
		e := newEnv(t)
		e.hub.RevokeAll()
		_, err := e.c.Sync(e.ctx, SyncOptions{})
		require.ErrorIs(t, err, ErrSessionExpired)
	})

	t.Run("refused_checkpoint_restarts_with_a_full_sync", func(t *testing.T) {
		e := newEnv(t)
		e.hub.Put("crm", "account", "a1", "", map[string]any{"name": "A"})
		e.sync()
		require.NoError(t, e.c.db.Model(&sourceRow{}).Where("name = ?", "crm").Update("checkpoint", "forged.token").Error)
		rep := e.sync()
		assert.True(t, rep.Sources[0].FullSync)
		assert.Equal(t, []string{"a1"}, ids(e.list("account")))
	})

	t.Run("unreachable_hub_is_reported_as_such", func(t *testing.T) {
		e := newEnv(t)
		e.hub.Close()
		_, err := e.c.Sync(e.ctx, SyncOptions{})
		require.ErrorIs(t, err, ErrUnreachable)
	})

	t.Run("not_logged_in_says_so", func(t *testing.T) {
		e := newEnv(t)
		require.NoError(t, e.c.Logout(e.ctx))
		_, err := e.c.Sync(e.ctx, SyncOptions{})
		require.True(t, errors.Is(err, ErrNotLoggedIn))
	})
}

func TestSyncErrors(t *testing.T) {
	setup := func(t *testing.T) (*env, SyncError) {
		e := newEnv(t)
		e.hub.Put("crm", "account", "a1", "", map[string]any{"name": "Old"})
		e.sync()
		require.NoError(t, e.c.Update(e.ctx, "crm", "account", "a1", map[string]any{"name": "Mine"}))
		e.hub.Put("crm", "account", "a1", "", map[string]any{"name": "Theirs"})
		rep := e.sync()
		assert.Equal(t, 1, rep.Sources[0].Errors)
		errs, err := e.c.Errors(e.ctx, "crm")
		require.NoError(t, err)
		require.Len(t, errs, 1)
		assert.Equal(t, "a1", errs[0].RecordID)
		assert.Equal(t, []string{"name"}, errs[0].ConflictingFields)
		chs := e.changes()
		require.Len(t, chs, 1)
		assert.Equal(t, stateError, chs[0].State)
		r, _ := e.get("account", "a1")
		assert.Equal(t, "Mine", r.Fields["name"], "the conflicting edit is kept until resolved")
		return e, errs[0]
	}
	t.Run("take_server_drops_the_edit_and_restores_the_server_record", func(t *testing.T) {
		e, se := setup(t)
		require.NoError(t, e.c.Resolve(e.ctx, "crm", se.ID, "take-server"))
		assert.Empty(t, e.changes())
		r, _ := e.get("account", "a1")
		assert.Equal(t, "Theirs", r.Fields["name"])
		errs, err := e.c.Errors(e.ctx, "crm")
		require.NoError(t, err)
		assert.Empty(t, errs)
	})
	t.Run("keep_mine_resends_and_the_edit_wins", func(t *testing.T) {
		e, se := setup(t)
		require.NoError(t, e.c.Resolve(e.ctx, "crm", se.ID, "keep-mine"))
		e.sync()
		assert.Empty(t, e.changes())
		fields, _, _ := e.hub.Record("crm", "account", "a1")
		assert.Equal(t, "Mine", fields["name"])
		r, _ := e.get("account", "a1")
		assert.Equal(t, "Mine", r.Fields["name"])
	})
	t.Run("a_mutation_rejected_at_upload_is_a_local_error", func(t *testing.T) {
		e := newEnv(t)
		e.sync()
		id, err := e.c.Create(e.ctx, "crm", "account", map[string]any{"name": "X"})
		require.NoError(t, err)
		// The hub's schema loses the entity before the upload.
		e.hub.SetSchema("crm", crmSchema("1")[1:]...)
		e.sync()
		errs, err := e.c.Errors(e.ctx, "crm")
		require.NoError(t, err)
		require.Len(t, errs, 1)
		assert.True(t, errs[0].Local)
		require.NoError(t, e.c.Resolve(e.ctx, "crm", errs[0].ID, ResolveTakeServer))
		assert.Empty(t, e.changes())
		var n int64
		require.NoError(t, e.c.db.Model(&recordRow{}).Where("id = ?", id).Count(&n).Error)
		assert.Zero(t, n)
	})
}
