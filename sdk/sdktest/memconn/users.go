package memconn

import (
	"context"
	"fmt"
	"strings"

	"github.com/synchub/synchub/sdk"
)

// ResolveUser finds the user record whose email equals the login, ignoring
// case. The identity is the record's id and name; the record's other string
// fields (a region, a business unit, put there with Put) are its
// attributes.
func (m *Connector) ResolveUser(_ context.Context, req sdk.ResolveUserRequest) (sdk.Identity, error) {
	if _, err := m.trip("resolve_user", 0); err != nil {
		return sdk.Identity{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.st.table("user")
	for _, id := range t.ids {
		f := t.rows[id].fields
		if email, _ := f["email"].(string); !strings.EqualFold(email, req.Login) {
			continue
		}
		who := sdk.Identity{ID: id, Name: fmt.Sprint(f["name"])}
		for k, v := range f {
			if s, ok := v.(string); ok && k != "id" && k != "name" && k != "email" {
				if who.Attributes == nil {
					who.Attributes = map[string]string{}
				}
				who.Attributes[k] = s
			}
		}
		return who, nil
	}
	return sdk.Identity{}, &sdk.Error{Code: sdk.CodeNotFound, Entity: "user",
		Summary: fmt.Sprintf("memconn has no user with login %q", req.Login)}
}
