package memconn

import (
	"fmt"

	"github.com/synchub/synchub/sdk"
)

// DefaultEntities are the entities New starts with:
//
//   - user (id, name, email): read-only, 3 records; no delete tracking, so
//     the host reconciles it with ListIDs.
//   - account (id, name, city, owner → user, revenue, modified): deletions
//     come inline in incremental pages. Seed i is acc-000i in one of four
//     cities, owned by user u(i mod 3 + 1), with revenue 1000·i.
//   - contact (id, name, email, account → account, owner → user): deletions
//     come from the Deletions feed. Seed i is con-000i of account acc-000i.
func DefaultEntities() []Entity {
	str := func(name string) sdk.Field { return sdk.Field{Name: name, Type: sdk.TypeString} }
	key := sdk.Field{Name: "id", Type: sdk.TypeString, ReadOnly: true}
	name := sdk.Field{Name: "name", Type: sdk.TypeString, Required: true, MaxLength: 160}
	owner := sdk.Field{Name: "owner", Type: sdk.TypeLookup, Lookup: "user"}
	ref := func(entity, id string) map[string]any { return map[string]any{"entity": entity, "id": id} }
	cities := []string{"Paris", "Berlin", "Oslo", "Lisbon"}
	return []Entity{
		{
			Schema: sdk.EntitySchema{Name: "user", Key: "id", ReadOnly: true, Deletes: sdk.DeletesNone,
				Fields: []sdk.Field{key, name, str("email")}},
			Seed: func(n int) []map[string]any {
				if n == 0 {
					return nil
				}
				return seed(3, func(i int) map[string]any {
					return map[string]any{"id": fmt.Sprintf("u%d", i), "name": fmt.Sprintf("User %d", i), "email": fmt.Sprintf("user%d@example.com", i)}
				})
			},
		},
		{
			Schema: sdk.EntitySchema{Name: "account", Key: "id", ModifiedField: "modified", Deletes: sdk.DeletesInline,
				Fields: []sdk.Field{key, name, str("city"), owner, {Name: "revenue", Type: sdk.TypeDecimal},
					{Name: "modified", Type: sdk.TypeDateTime, ReadOnly: true}}},
			Seed: func(n int) []map[string]any {
				return seed(n, func(i int) map[string]any {
					return map[string]any{"id": fmt.Sprintf("acc-%04d", i), "name": fmt.Sprintf("Account %d", i),
						"city": cities[i%len(cities)], "owner": ref("user", fmt.Sprintf("u%d", i%3+1)), "revenue": 1000 * i}
				})
			},
		},
		{
			Schema: sdk.EntitySchema{Name: "contact", Key: "id", Deletes: sdk.DeletesFeed,
				Fields: []sdk.Field{key, name, str("email"), {Name: "account", Type: sdk.TypeLookup, Lookup: "account"}, owner}},
			Seed: func(n int) []map[string]any {
				return seed(n, func(i int) map[string]any {
					return map[string]any{"id": fmt.Sprintf("con-%04d", i), "name": fmt.Sprintf("Contact %d", i),
						"email": fmt.Sprintf("contact%d@example.com", i), "account": ref("account", fmt.Sprintf("acc-%04d", i)),
						"owner": ref("user", fmt.Sprintf("u%d", i%3+1))}
				})
			},
		},
	}
}

// seed makes records 1..n.
func seed(n int, record func(i int) map[string]any) []map[string]any {
	out := make([]map[string]any, n)
	for i := range out {
		out[i] = record(i + 1)
	}
	return out
}
