package dynamicscrm

import (
	"context"
	"fmt"
	"strings"

	"github.com/synchub/synchub/connectors/odata"
	"github.com/synchub/synchub/sdk"
)

var _ sdk.UserResolver = (*Connector)(nil)

// systemUser is the part of a systemusers row ResolveUser reads.
type systemUser struct {
	ID             string `json:"systemuserid"`
	FullName       string `json:"fullname"`
	DomainName     string `json:"domainname"`
	Email          string `json:"internalemailaddress"`
	BusinessUnitID string `json:"_businessunitid_value"`
}

// ResolveUser finds the systemuser whose domainname (the Entra user
// principal name) or internalemailaddress (the primary e-mail) is the
// login; Dataverse compares both case-insensitively. The identity is the
// systemuserid with the full name, and the user's business unit as
// attribute business_unit (the value "business_unit:owningbusinessunit"
// partition rules compare). When one user's domain name is another's
// e-mail, the domain name wins; a login that matches two users the same
// way is refused rather than guessed.
func (c *Connector) ResolveUser(ctx context.Context, req sdk.ResolveUserRequest) (sdk.Identity, error) {
	if c.http == nil {
		return sdk.Identity{}, errNotConfigured
	}
	lit := odata.QuoteString(req.Login)
	q := odata.Query{
		Select: []string{"systemuserid", "fullname", "domainname", "internalemailaddress", "_businessunitid_value"},
		Filter: "domainname eq " + lit + " or internalemailaddress eq " + lit,
		Top:    10,
	}
	var page struct {
		Value []systemUser `json:"value"`
	}
	if err := c.http.GetJSON(ctx, q.URL(c.api+"/systemusers"), &page); err != nil {
		return sdk.Identity{}, c.callError(fmt.Sprintf("resolve login %q", req.Login), err)
	}
	var byDomain, byEmail []systemUser
	for _, u := range page.Value {
		switch {
		case strings.EqualFold(u.DomainName, req.Login):
			byDomain = append(byDomain, u)
		case strings.EqualFold(u.Email, req.Login):
			byEmail = append(byEmail, u)
		}
	}
	found := byDomain
	if len(found) == 0 {
		found = byEmail
	}
	switch {
	case len(found) == 0:
		return sdk.Identity{}, &sdk.Error{Code: sdk.CodeNotFound, Entity: "systemuser",
			Summary: fmt.Sprintf("no Dataverse user has domain name or primary e-mail %q", req.Login)}
	case len(found) > 1:
		ids := make([]string, len(found))
		for i, u := range found {
			ids[i] = u.ID
		}
		return sdk.Identity{}, &sdk.Error{Code: sdk.CodeInvalidRequest, Entity: "systemuser",
			Summary: fmt.Sprintf("login %q matches %d Dataverse users; give the user's id instead", req.Login, len(found)),
			Detail:  "systemuserids: " + strings.Join(ids, ", ")}
	}
	u := found[0]
	if !isGUID(u.ID) {
		return sdk.Identity{}, &sdk.Error{Code: sdk.CodeBadResponse, Entity: "systemuser",
			Summary: fmt.Sprintf("systemusers answered login %q with a row without a systemuserid", req.Login)}
	}
	id := sdk.Identity{ID: strings.ToLower(u.ID), Name: u.FullName}
	if u.BusinessUnitID != "" {
		id.Attributes = map[string]string{"business_unit": strings.ToLower(u.BusinessUnitID)}
	}
	return id, nil
}
