package dynamicscrm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/oauth2"

	"github.com/synchub/synchub/connectors/odata"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/httpx"
)

// Name and Version identify the connector.
const (
	Name    = "dynamicscrm"
	Version = "1.1.0"
)

// Limits of the Dataverse Web API.
const (
	// MaxPageSize is the largest odata.maxpagesize the service honours.
	MaxPageSize = 5000
	// MaxBatchSize is the most requests one $batch may hold.
	MaxBatchSize = 1000
)

// Config is the source's `config` object.
type Config struct {
	// URL is the organization URL, e.g. https://contoso.crm.dynamics.com.
	URL          string `json:"url"`
	TenantID     string `json:"tenant_id"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	// APIVersion is the Web API version (default 9.2).
	APIVersion string `json:"api_version,omitempty"`
	// PageSize is the largest page asked for (default and maximum 5000).
	PageSize int `json:"page_size,omitempty"`
	// TokenURL is the token endpoint (default: the Microsoft identity
	// platform's for TenantID).
	TokenURL string `json:"token_url,omitempty"`
	// Scope is the OAuth scope (default <URL>/.default).
	Scope string `json:"scope,omitempty"`
}

// Connector is the Dynamics 365 CRM (Dataverse Web API) connector. It is
// safe for concurrent use once configured.
type Connector struct {
	log  hclog.Logger
	cfg  Config
	http *httpx.Client
	api  string // <url>/api/data/v<version>
	path string // /api/data/v<version>, for $batch request lines

	mu   sync.Mutex
	meta map[string]*entityMeta
}

var (
	_ sdk.Connector       = (*Connector)(nil)
	_ sdk.Fetcher         = (*Connector)(nil)
	_ sdk.IDLister        = (*Connector)(nil)
	_ sdk.Uploader        = (*Connector)(nil)
	_ sdk.FileLister      = (*Connector)(nil)
	_ sdk.FileReader      = (*Connector)(nil)
	_ sdk.FileWriter      = (*Connector)(nil)
	_ sdk.ConfigureLogger = (*Connector)(nil)
)

// New returns an unconfigured connector.
func New() *Connector {
	return &Connector{log: hclog.NewNullLogger(), meta: map[string]*entityMeta{}}
}

// SetLogger takes the SDK's logger.
func (c *Connector) SetLogger(l hclog.Logger) { c.log = l }

// Describe names the connector and documents its config.
func (c *Connector) Describe() sdk.Description {
	return sdk.Description{
		Name: Name, Version: Version, MaxBatchSize: MaxBatchSize, AtomicBatches: true,
		ConfigSchema: []sdk.ConfigField{
			{Name: "url", Type: "string", Required: true, Doc: "organization URL, e.g. https://contoso.crm.dynamics.com"},
			{Name: "tenant_id", Type: "string", Required: true, Doc: "Microsoft Entra tenant id (or domain)"},
			{Name: "client_id", Type: "string", Required: true, Doc: "the app registration's application (client) id"},
			{Name: "client_secret", Type: "string", Required: true, Secret: true, Doc: "the app registration's client secret"},
			{Name: "api_version", Type: "string", Doc: "Web API version (default 9.2)"},
			{Name: "page_size", Type: "int", Doc: "largest page to ask for, 1 to 5000 (default 5000)"},
			{Name: "token_url", Type: "string", Doc: "token endpoint (default https://login.microsoftonline.com/<tenant_id>/oauth2/v2.0/token)"},
			{Name: "scope", Type: "string", Doc: "OAuth scope (default <url>/.default)"},
		},
	}
}

var apiVersion = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*$`)

// Configure checks the config and prepares the HTTP client. It does not
// touch the network: Check does.
func (c *Connector) Configure(ctx context.Context, req sdk.ConfigureRequest) error {
	var cfg Config
	if err := sdk.DecodeConfig(req.Config, &cfg); err != nil {
		return err
	}
	for _, k := range []struct{ name, val string }{{"url", cfg.URL}, {"tenant_id", cfg.TenantID}, {"client_id", cfg.ClientID}, {"client_secret", cfg.ClientSecret}} {
		if strings.TrimSpace(k.val) == "" {
			return &sdk.Error{Code: sdk.CodeInvalidConfig, Field: k.name, Summary: "missing config key " + k.name}
		}
	}
	invalid := func(field, summary, detail string) error {
		return &sdk.Error{Code: sdk.CodeInvalidConfig, Field: field, Summary: summary, Detail: detail}
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return invalid("url", "url must be the organization's base URL, such as https://contoso.crm.dynamics.com", cfg.URL)
	}
	cfg.URL = u.Scheme + "://" + u.Host
	if cfg.APIVersion == "" {
		cfg.APIVersion = "9.2"
	}
	if !apiVersion.MatchString(cfg.APIVersion) {
		return invalid("api_version", "api_version must look like 9.2", cfg.APIVersion)
	}
	switch {
	case cfg.PageSize == 0:
		cfg.PageSize = MaxPageSize
	case cfg.PageSize < 0 || cfg.PageSize > MaxPageSize:
		return invalid("page_size", fmt.Sprintf("page_size must be between 1 and %d (the service's maximum)", MaxPageSize), fmt.Sprint(cfg.PageSize))
	}
	if cfg.TokenURL == "" {
		cfg.TokenURL = "https://login.microsoftonline.com/" + url.PathEscape(cfg.TenantID) + "/oauth2/v2.0/token"
	} else if t, err := url.Parse(cfg.TokenURL); err != nil || t.Host == "" || (t.Scheme != "https" && t.Scheme != "http") {
		return invalid("token_url", "token_url must be an http(s) URL", cfg.TokenURL)
	}
	if cfg.Scope == "" {
		cfg.Scope = cfg.URL + "/.default"
	}
	c.cfg = cfg
	c.path = "/api/data/v" + cfg.APIVersion
	c.api = cfg.URL + c.path
	ts := httpx.ClientCredentials(ctx, cfg.TokenURL, cfg.ClientID, cfg.ClientSecret, []string{cfg.Scope}, nil)
	c.http = httpx.New(httpx.Options{BaseURL: cfg.URL, Logger: c.log.Named("http"), TokenSource: ts,
		UserAgent: "synchub-" + Name + "/" + Version})
	c.mu.Lock()
	c.meta = map[string]*entityMeta{}
	c.mu.Unlock()
	return nil
}

// Check signs in and asks WhoAmI: the identity is the application user's
// systemuserid, with its business unit and organization as attributes.
func (c *Connector) Check(ctx context.Context) (sdk.CheckResult, error) {
	if c.http == nil {
		return sdk.CheckResult{}, errNotConfigured
	}
	var who struct {
		UserID         string `json:"UserId"`
		BusinessUnitID string `json:"BusinessUnitId"`
		OrganizationID string `json:"OrganizationId"`
	}
	if err := c.http.GetJSON(ctx, c.api+"/WhoAmI", &who); err != nil {
		return sdk.CheckResult{}, c.callError("ask WhoAmI", err)
	}
	if who.UserID == "" {
		return sdk.CheckResult{}, &sdk.Error{Code: sdk.CodeBadResponse, Summary: "WhoAmI answered without a UserId"}
	}
	id := strings.ToLower(who.UserID)
	res := sdk.CheckResult{
		Identity: sdk.Identity{ID: id, Attributes: map[string]string{
			"business_unit": strings.ToLower(who.BusinessUnitID), "organization": strings.ToLower(who.OrganizationID)}},
		Message: fmt.Sprintf("signed in to %s as client %s", c.cfg.URL, c.cfg.ClientID),
	}
	// The user's name is a courtesy: a failure here does not fail Check.
	var user struct {
		FullName string `json:"fullname"`
	}
	if isGUID(id) && c.http.GetJSON(ctx, c.api+"/systemusers("+id+")?$select=fullname", &user) == nil {
		res.Identity.Name = user.FullName
	}
	return res, nil
}

var errNotConfigured = &sdk.Error{Code: sdk.CodeInvalidRequest, Summary: "the connector is not configured"}

// callError turns a failed call into an *sdk.Error. A token the identity
// platform refused, or a 401 from the Web API, names the tenant and the
// client id, never the secret, and says what to check.
func (c *Connector) callError(summary string, err error) error {
	var re *oauth2.RetrieveError
	var se *httpx.StatusError
	switch {
	case errors.As(err, &re):
		return &sdk.Error{Code: sdk.CodeAuth, Err: err,
			Summary: fmt.Sprintf("%s: cannot sign in to Microsoft Entra tenant %s as client %s (check tenant_id, client_id and client_secret)", summary, c.cfg.TenantID, c.cfg.ClientID),
			Detail:  c.scrub(odata.TokenErrorDetail(re))}
	case errors.As(err, &se) && se.StatusCode == http.StatusUnauthorized:
		return &sdk.Error{Code: sdk.CodeAuth, Err: err,
			Summary: fmt.Sprintf("%s: %s refused the token of client %s from tenant %s (is there an application user for the app in this environment, and is the scope right?)", summary, c.cfg.URL, c.cfg.ClientID, c.cfg.TenantID),
			Detail:  c.scrub(odata.ParseError(se.StatusCode, se.Body).Error())}
	}
	e := odata.SDKError(summary, err)
	var sdkErr *sdk.Error
	if errors.As(e, &sdkErr) {
		sdkErr.Detail = c.scrub(sdkErr.Detail)
	}
	return e
}

// scrub removes the client secret from a message, should a service echo it.
func (c *Connector) scrub(s string) string {
	if c.cfg.ClientSecret == "" {
		return s
	}
	return strings.ReplaceAll(s, c.cfg.ClientSecret, "<client_secret>")
}

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// isGUID reports whether s is a GUID in its canonical form: the only key
// shape the connector puts into a URL.
func isGUID(s string) bool { return guidPattern.MatchString(s) }

// UploadsRawFields marks the connector a sdk.RawFieldsUploader: it writes
// each op's body from the fields' JSON.
func (c *Connector) UploadsRawFields() {}
