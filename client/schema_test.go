package client

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/synchub/synchub/client/internal/fakehub"
)

// The sources and schemas an edit checks are kept in memory between
// syncs; each step below would fail if what was kept outlived the sync or
// the login that replaced it.
func TestSchemaKeptFollowsSyncAndLogin(t *testing.T) {
	e := newEnv(t)
	e.sync()
	_, err := e.c.Create(e.ctx, "crm", "account", map[string]any{"name": "A", "industry": "Retail"})
	require.ErrorIs(t, err, ErrInvalidField, "industry is not in the schema yet")
	_, err = e.c.Create(e.ctx, "erp", "item", map[string]any{"no": "1"})
	require.ErrorIs(t, err, ErrNotFound, "erp is not a source yet")

	// The hub adds a field and a source: the next sync makes both usable.
	acc := crmSchema("2")
	acc[0].Fields = append(acc[0].Fields, fakehub.Field{Name: "industry", Type: "string"})
	e.hub.SetSchema("crm", acc...)
	e.hub.SetSchema("erp", fakehub.Entity{Name: "item", Key: "no", Hash: "item-1", Fields: []fakehub.Field{{Name: "no", Type: "string"}}})
	e.sync()
	_, err = e.c.Create(e.ctx, "crm", "account", map[string]any{"name": "A", "industry": "Retail"})
	require.NoError(t, err)
	_, err = e.c.Create(e.ctx, "erp", "item", map[string]any{"no": "1"})
	require.NoError(t, err)
	sources, err := e.c.Sources(e.ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"crm", "erp"}, sources)

	// What Schema and Entity hand out is the caller's to change.
	ent, err := e.c.Entity(e.ctx, "crm", "account")
	require.NoError(t, err)
	ent.Fields[0].Name = "changed"
	sources[0] = "changed"
	again, err := e.c.Entity(e.ctx, "crm", "account")
	require.NoError(t, err)
	assert.Equal(t, "name", again.Fields[0].Name)
	sources, err = e.c.Sources(e.ctx)
	require.NoError(t, err)
	assert.NotContains(t, sources, "changed")

	// Another user's login clears the store: nothing is known until a sync.
	e.sync()
	_, err = e.c.Entity(e.ctx, "crm", "account")
	require.NoError(t, err)
	e.hub.AddUser("bob", "bob")
	require.NoError(t, e.c.Login(e.ctx, e.hub.URL, "bob", "bob"))
	_, err = e.c.Create(e.ctx, "crm", "account", map[string]any{"name": "B"})
	require.ErrorIs(t, err, ErrNoSchema)
}
