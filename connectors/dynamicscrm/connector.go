package dynamicscrm

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"

	"github.com/synchub/synchub/connectors/odata"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/httpx"
)

// Name and Version identify the connector.
const (
	Name    = "dynamicscrm"
	Version = "1.0.0"
)

// Config is the source's `config` object.
type Config struct {
	URL          string `json:"url"`
	TenantID     string `json:"tenant_id"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	APIVersion   string `json:"api_version,omitempty"`
	PageSize     int    `json:"page_size,omitempty"`
	TokenURL     string `json:"token_url,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// Connector is the Dynamics CRM connector.
type Connector struct {
	log  hclog.Logger
	cfg  Config
	http *httpx.Client
	api  string // <url>/api/data/v<version>

	mu   sync.Mutex
	meta map[string]*entityMeta
}

var (
	_ sdk.Connector       = (*Connector)(nil)
	_ sdk.Fetcher         = (*Connector)(nil)
	_ sdk.Uploader        = (*Connector)(nil)
	_ sdk.ConfigureLogger = (*Connector)(nil)
)

// New returns an unconfigured connector.
func New() *Connector { return &Connector{log: hclog.NewNullLogger(), meta: map[string]*entityMeta{}} }

// SetLogger takes the SDK's logger.
func (c *Connector) SetLogger(l hclog.Logger) { c.log = l }

// Describe names the connector and its config.
func (c *Connector) Describe() sdk.Description {
	return sdk.Description{
		Name: Name, Version: Version, MaxBatchSize: 1000, AtomicBatches: true,
		ConfigSchema: []sdk.ConfigField{
			{Name: "url", Type: "string", Required: true, Doc: "organization URL, e.g. https://contoso.crm.dynamics.com"},
			{Name: "tenant_id", Type: "string", Required: true, Doc: "Microsoft Entra tenant id"},
			{Name: "client_id", Type: "string", Required: true, Doc: "app registration's client id"},
			{Name: "client_secret", Type: "string", Required: true, Secret: true, Doc: "app registration's client secret"},
			{Name: "api_version", Type: "string", Doc: "Web API version (default 9.2)"},
			{Name: "page_size", Type: "int", Doc: "largest page to ask for (default and maximum 5000)"},
			{Name: "token_url", Type: "string", Doc: "token endpoint (default https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token)"},
			{Name: "scope", Type: "string", Doc: "OAuth scope (default <url>/.default)"},
		},
	}
}

// Configure checks the config and prepares the HTTP client.
func (c *Connector) Configure(ctx context.Context, req sdk.ConfigureRequest) error {
	var cfg Config
	if err := sdk.DecodeConfig(req.Config, &cfg); err != nil {
		return err
	}
	for _, k := range []struct{ name, val string }{{"url", cfg.URL}, {"tenant_id", cfg.TenantID}, {"client_id", cfg.ClientID}, {"client_secret", cfg.ClientSecret}} {
		if k.val == "" {
			return &sdk.Error{Code: sdk.CodeInvalidConfig, Summary: "missing config key " + k.name, Field: k.name}
		}
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return &sdk.Error{Code: sdk.CodeInvalidConfig, Field: "url", Summary: "url must be the organization's http(s) URL", Detail: cfg.URL}
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	if cfg.APIVersion == "" {
		cfg.APIVersion = "9.2"
	}
	if cfg.PageSize <= 0 || cfg.PageSize > 5000 {
		cfg.PageSize = 5000
	}
	if cfg.TokenURL == "" {
		cfg.TokenURL = "https://login.microsoftonline.com/" + url.PathEscape(cfg.TenantID) + "/oauth2/v2.0/token"
	}
	if cfg.Scope == "" {
		cfg.Scope = cfg.URL + "/.default"
	}
	c.cfg = cfg
	c.api = cfg.URL + "/api/data/v" + cfg.APIVersion
	ts := httpx.ClientCredentials(ctx, cfg.TokenURL, cfg.ClientID, cfg.ClientSecret, []string{cfg.Scope}, nil)
	c.http = httpx.New(httpx.Options{BaseURL: cfg.URL, Logger: c.log, TokenSource: ts, UserAgent: "synchub-dynamicscrm/" + Version})
	c.mu.Lock()
	c.meta = map[string]*entityMeta{}
	c.mu.Unlock()
	return nil
}

// Check signs in and asks WhoAmI.
func (c *Connector) Check(ctx context.Context) (sdk.CheckResult, error) {
	var who struct {
		UserID         string `json:"UserId"`
		BusinessUnitID string `json:"BusinessUnitId"`
		OrganizationID string `json:"OrganizationId"`
	}
	if err := c.http.GetJSON(ctx, c.api+"/WhoAmI", &who); err != nil {
		if strings.Contains(err.Error(), "oauth2") || strings.Contains(err.Error(), "token") {
			return sdk.CheckResult{}, &sdk.Error{Code: sdk.CodeAuth, Err: err,
				Summary: fmt.Sprintf("cannot sign in to tenant %s as client %s", c.cfg.TenantID, c.cfg.ClientID),
				Detail:  scrub(err.Error(), c.cfg.ClientSecret)}
		}
		return sdk.CheckResult{}, odata.SDKError("WhoAmI", err)
	}
	return sdk.CheckResult{
		Identity: sdk.Identity{ID: strings.ToLower(who.UserID),
			Attributes: map[string]string{"business_unit": strings.ToLower(who.BusinessUnitID), "organization": strings.ToLower(who.OrganizationID)}},
		Message: "signed in to " + c.cfg.URL,
	}, nil
}

// scrub removes a secret from a message.
func scrub(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "<secret>")
}
