package dynamicscrm_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/synchub/synchub/connectors/dynamicscrm/emulator"
	"github.com/synchub/synchub/sdk"
)

func TestResolveUserFindsTheSystemUserOfALogin(t *testing.T) {
	emu, cfg := startEmulator(t, emulator.Options{Seed: 2, Accounts: 1, Users: 3})
	c := configured(t, cfg)
	alice := emu.Users()[0]
	// A user whose e-mail differs from its domain name, and one whose
	// domain name is that e-mail: the domain name wins.
	mailOnly := uuid.NewString()
	if emu.Upsert("systemusers", mailOnly, map[string]any{"firstname": "Mail", "lastname": "Only",
		"domainname": "mail.only@contoso.onmicrosoft.com", "internalemailaddress": "Mail.Only@contoso.example",
		"businessunitid": alice.BusinessUnitID}) == "" {
		t.Fatal("the emulator refused a new systemuser")
	}
	other := emu.Users()[1]
	shadow := uuid.NewString()
	if emu.Upsert("systemusers", shadow, map[string]any{"firstname": "Shadow", "lastname": "User",
		"domainname": "shadow@contoso.onmicrosoft.com", "internalemailaddress": other.DomainName,
		"businessunitid": other.BusinessUnitID}) == "" {
		t.Fatal("the emulator refused a new systemuser")
	}

	tests := []struct {
		name, login, wantID, wantBU string
	}{
		{"by_domain_name", alice.DomainName, alice.SystemUserID, alice.BusinessUnitID},
		{"in_any_case", strings.ToUpper(alice.DomainName), alice.SystemUserID, alice.BusinessUnitID},
		{"by_primary_email", "mail.only@contoso.example", mailOnly, alice.BusinessUnitID},
		{"a_domain_name_wins_over_another_users_email", other.DomainName, other.SystemUserID, other.BusinessUnitID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := c.ResolveUser(ctx, sdk.ResolveUserRequest{Login: tt.login})
			if err != nil {
				t.Fatalf("ResolveUser(%q): %v", tt.login, err)
			}
			if id.ID != tt.wantID || id.Attributes["business_unit"] != tt.wantBU || id.Name == "" {
				t.Errorf("ResolveUser(%q) = %+v, want id %s, business_unit %s and a name", tt.login, id, tt.wantID, tt.wantBU)
			}
		})
	}
	if id, _ := c.ResolveUser(ctx, sdk.ResolveUserRequest{Login: alice.DomainName}); id.Name != alice.FullName {
		t.Errorf("the identity's name is %q, want the user's full name %q", id.Name, alice.FullName)
	}
}

func TestResolveUserOfAnUnknownLoginIsNotFound(t *testing.T) {
	_, cfg := startEmulator(t, emulator.Options{Seed: 2, Accounts: 1})
	c := configured(t, cfg)
	for _, login := range []string{"nobody@contoso.example", "o'brien@contoso.example", "x' or domainname ne 'y"} {
		_, err := c.ResolveUser(ctx, sdk.ResolveUserRequest{Login: login})
		var se *sdk.Error
		if !errors.As(err, &se) || se.Code != sdk.CodeNotFound || !strings.Contains(se.Error(), login) {
			t.Errorf("ResolveUser(%q): %v, want a not-found error naming the login", login, err)
		}
	}
}

func TestResolveUserRefusesALoginOfTwoUsers(t *testing.T) {
	emu, cfg := startEmulator(t, emulator.Options{Seed: 2, Accounts: 1})
	c := configured(t, cfg)
	bu := emu.Users()[0].BusinessUnitID
	for _, name := range []string{"One", "Two"} {
		if emu.Upsert("systemusers", uuid.NewString(), map[string]any{"firstname": name, "lastname": "Shared",
			"domainname": strings.ToLower(name) + "@contoso.onmicrosoft.com", "internalemailaddress": "shared@contoso.example",
			"businessunitid": bu}) == "" {
			t.Fatal("the emulator refused a new systemuser")
		}
	}
	_, err := c.ResolveUser(ctx, sdk.ResolveUserRequest{Login: "shared@contoso.example"})
	if sdk.CodeOf(err) != sdk.CodeInvalidRequest || !strings.Contains(err.Error(), "2 Dataverse users") {
		t.Errorf("ResolveUser of a shared e-mail: %v, want an error saying two users match", err)
	}
}
