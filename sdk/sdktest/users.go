package sdktest

import (
	"errors"
	"strings"

	"github.com/synchub/synchub/sdk"
)

// unknownLogin is a login no back end has. Its quote proves the connector
// escapes the login in the query it sends (an OData literal doubles it).
const unknownLogin = "sdktest.o'no-such-user@example.invalid"

// resolveUserCase: a known login resolves to Config.User's id (and
// attributes), an unknown one is a not-found error naming it, and an empty
// one never reaches the connector.
func resolveUserCase(h *harness, _ EntityConfig) {
	h.require(sdk.CapResolveUser)
	want := h.cfg.User
	if want.Login == "" || want.ID == "" {
		h.Fatalf("the connector resolves users (it announces %s): set sdktest.Config.User to a login the back end knows and its id", sdk.CapResolveUser)
	}
	got, err := h.client.ResolveUser(h.ctx, sdk.ResolveUserRequest{Login: want.Login})
	if err != nil {
		h.Fatalf("ResolveUser(%q): %v", want.Login, err)
	}
	if got.ID != want.ID {
		h.Errorf("ResolveUser(%q) gives id %q, want %q", want.Login, got.ID, want.ID)
	}
	for k, v := range want.Attributes {
		if have, ok := got.Attributes[k]; !ok || have != v {
			h.Errorf("ResolveUser(%q) gives attribute %s = %q (present: %v), want %q", want.Login, k, have, ok, v)
		}
	}

	_, err = h.client.ResolveUser(h.ctx, sdk.ResolveUserRequest{Login: unknownLogin})
	var se *sdk.Error
	switch {
	case !errors.As(err, &se) || se.Code != sdk.CodeNotFound:
		h.Errorf("ResolveUser of an unknown login: got %v, want a *sdk.Error of code %s", err, sdk.CodeNotFound)
	case !strings.Contains(se.Error(), unknownLogin):
		h.Errorf("the not-found error %q does not name the login %s", se.Error(), unknownLogin)
	}

	_, err = h.client.ResolveUser(h.ctx, sdk.ResolveUserRequest{})
	if sdk.CodeOf(err) != sdk.CodeInvalidRequest {
		h.Errorf("ResolveUser of an empty login: got %v, want a *sdk.Error of code %s", err, sdk.CodeInvalidRequest)
	}
}
