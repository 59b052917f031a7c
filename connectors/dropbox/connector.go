package dropbox

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/oauth2"

	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/httpx"
)

// Name and Version are what Describe reports.
const (
	Name    = "dropbox"
	Version = "0.1.0"
)

// Defaults of the config keys.
const (
	DefaultRoot       = "/synchub"
	DefaultAPIURL     = "https://api.dropboxapi.com"
	DefaultContentURL = "https://content.dropboxapi.com"
	DefaultTokenURL   = "https://api.dropboxapi.com/oauth2/token"
	DefaultPageLimit  = 2000
)

// Upload sizes: Dropbox takes at most 150 MiB in one files/upload call;
// larger files go through an upload session in chunks (a multiple of 4 MiB,
// as Dropbox recommends).
const (
	maxSingleUpload = 150 << 20
	sessionChunk    = 8 << 20
)

// Config is the source's `config` object.
type Config struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	AppKey       string `json:"app_key"`
	AppSecret    string `json:"app_secret"`
	Root         string `json:"root"`
	APIURL       string `json:"api_url"`
	ContentURL   string `json:"content_url"`
	TokenURL     string `json:"token_url"`
	PageLimit    int    `json:"page_limit"`
}

var configSchema = []sdk.ConfigField{
	{Name: "access_token", Type: "string", Secret: true, Doc: "a long-lived access token; or use refresh_token with app_key"},
	{Name: "refresh_token", Type: "string", Secret: true, Doc: "an offline refresh token (token_access_type=offline); needs app_key"},
	{Name: "app_key", Type: "string", Doc: "the app's key (OAuth client id), with refresh_token"},
	{Name: "app_secret", Type: "string", Secret: true, Doc: "the app's secret, with refresh_token (omit for PKCE apps)"},
	{Name: "root", Type: "string", Doc: `the folder holding <entity>/<record name>_<record id>/<file> (default "/synchub")`},
	{Name: "api_url", Type: "string", Doc: "the RPC host (default https://api.dropboxapi.com)"},
	{Name: "content_url", Type: "string", Doc: "the content host (default https://content.dropboxapi.com)"},
	{Name: "token_url", Type: "string", Doc: "the OAuth token endpoint (default https://api.dropboxapi.com/oauth2/token)"},
	{Name: "page_limit", Type: "int", Doc: "entries per list_folder page, 1 to 2000 (default 2000)"},
}

// Connector is the Dropbox connector. It keeps no state between calls but
// its configuration; it is safe for concurrent use once configured.
type Connector struct {
	log   hclog.Logger
	state atomic.Pointer[configured]

	// singleMax and chunk are the upload split; tests lower them.
	singleMax int64
	chunk     int
}

// configured is what Configure derives from the config.
type configured struct {
	cfg        Config
	root       string // as configured, "/synchub"; "" for the whole Dropbox
	rootLower  string
	contentURL string
	http       *httpx.Client
}

// Compile-time proof of the capabilities.
var (
	_ sdk.Connector       = (*Connector)(nil)
	_ sdk.ConfigureLogger = (*Connector)(nil)
	_ sdk.FileLister      = (*Connector)(nil)
	_ sdk.FileReader      = (*Connector)(nil)
	_ sdk.FileWriter      = (*Connector)(nil)
)

// New returns an unconfigured connector.
func New() *Connector {
	return &Connector{log: hclog.NewNullLogger(), singleMax: maxSingleUpload, chunk: sessionChunk}
}

// SetLogger receives the SDK's logger before Configure.
func (c *Connector) SetLogger(l hclog.Logger) { c.log = l }

// Describe names the connector and documents its config.
func (c *Connector) Describe() sdk.Description {
	return sdk.Description{Name: Name, Version: Version, ConfigSchema: configSchema}
}

// Configure checks the config and builds the HTTP client; it does not call
// Dropbox.
func (c *Connector) Configure(_ context.Context, req sdk.ConfigureRequest) error {
	var cfg Config
	if err := sdk.DecodeConfig(req.Config, &cfg); err != nil {
		return err
	}
	st, err := configure(cfg, c.log)
	if err != nil {
		return err
	}
	c.state.Store(st)
	return nil
}

func invalid(field, format string, args ...any) *sdk.Error {
	return &sdk.Error{Code: sdk.CodeInvalidConfig, Field: field, Summary: "invalid dropbox config", Detail: fmt.Sprintf(format, args...)}
}

func configure(cfg Config, log hclog.Logger) (*configured, error) {
	refresh := cfg.RefreshToken != "" || cfg.AppKey != "" || cfg.AppSecret != ""
	switch {
	case cfg.AccessToken != "" && refresh:
		return nil, invalid("access_token", "give either access_token or refresh_token with app_key, not both")
	case cfg.AccessToken == "" && !refresh:
		return nil, invalid("access_token", "missing: give access_token, or refresh_token with app_key (and app_secret)")
	case refresh && cfg.RefreshToken == "":
		return nil, invalid("refresh_token", "missing: app_key and app_secret need a refresh_token")
	case refresh && cfg.AppKey == "":
		return nil, invalid("app_key", "missing: a refresh_token needs the app's app_key")
	}
	root := cfg.Root
	if root == "" {
		root = DefaultRoot
	}
	if !strings.HasPrefix(root, "/") || strings.Contains(root, "//") || hasDotSegment(root) {
		return nil, invalid("root", "%q is not an absolute Dropbox path such as /synchub", root)
	}
	root = strings.TrimSuffix(root, "/") // "/" itself means the whole Dropbox: ""
	switch {
	case cfg.PageLimit == 0:
		cfg.PageLimit = DefaultPageLimit
	case cfg.PageLimit < 1 || cfg.PageLimit > 2000:
		return nil, invalid("page_limit", "%d is outside 1..2000", cfg.PageLimit)
	}
	urls := map[string]*string{"api_url": &cfg.APIURL, "content_url": &cfg.ContentURL, "token_url": &cfg.TokenURL}
	defaults := map[string]string{"api_url": DefaultAPIURL, "content_url": DefaultContentURL, "token_url": DefaultTokenURL}
	parsed := map[string]*url.URL{}
	for _, key := range []string{"api_url", "content_url", "token_url"} {
		if *urls[key] == "" {
			*urls[key] = defaults[key]
		}
		u, err := url.Parse(*urls[key])
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, invalid(key, "%q is not an http(s) URL", *urls[key])
		}
		parsed[key] = u
	}
	api, content := parsed["api_url"], parsed["content_url"]
	if api.Scheme != content.Scheme {
		return nil, invalid("content_url", "must use the same scheme as api_url (%s)", api.Scheme)
	}

	var tokens oauth2.TokenSource
	if cfg.AccessToken != "" {
		tokens = oauth2.StaticTokenSource(&oauth2.Token{AccessToken: cfg.AccessToken, TokenType: "Bearer"})
	} else {
		tokens = httpx.RefreshToken(context.Background(), cfg.TokenURL, cfg.AppKey, cfg.AppSecret, cfg.RefreshToken)
	}
	client := httpx.New(httpx.Options{
		BaseURL:      strings.TrimSuffix(cfg.APIURL, "/"),
		Logger:       log.Named("http"),
		TokenSource:  tokens,
		AllowedHosts: []string{content.Host},
		UserAgent:    "synchub-dropbox/" + Version,
	})
	return &configured{cfg: cfg, root: root, rootLower: strings.ToLower(root),
		contentURL: strings.TrimSuffix(cfg.ContentURL, "/"), http: client}, nil
}

func hasDotSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

// current returns the configuration, or an error before Configure.
func (c *Connector) current() (*configured, error) {
	st := c.state.Load()
	if st == nil {
		return nil, &sdk.Error{Code: sdk.CodeInvalidConfig, Summary: "dropbox connector used before Configure"}
	}
	return st, nil
}

// Check calls users/get_current_account: the account the token acts for.
func (c *Connector) Check(ctx context.Context) (sdk.CheckResult, error) {
	st, err := c.current()
	if err != nil {
		return sdk.CheckResult{}, err
	}
	var acct struct {
		AccountID string `json:"account_id"`
		Name      struct {
			DisplayName string `json:"display_name"`
		} `json:"name"`
		Email string `json:"email"`
	}
	if err := st.rpc(ctx, "users/get_current_account", nil, &acct); err != nil {
		return sdk.CheckResult{}, withContext(err, "check credentials")
	}
	if acct.AccountID == "" {
		return sdk.CheckResult{}, &sdk.Error{Code: sdk.CodeBadResponse, Summary: "users/get_current_account answered without an account_id"}
	}
	rootShown := st.root
	if rootShown == "" {
		rootShown = "/"
	}
	return sdk.CheckResult{
		Identity: sdk.Identity{ID: acct.AccountID, Name: acct.Name.DisplayName, Attributes: map[string]string{"email": acct.Email}},
		Message:  fmt.Sprintf("Dropbox account %s (%s); files under %s", acct.Name.DisplayName, acct.Email, rootShown),
	}, nil
}

// Schema refuses every entity: a document store has no records of its
// own; its files belong to the records of the source it is attached to.
func (c *Connector) Schema(_ context.Context, req sdk.SchemaRequest) (sdk.Schema, error) {
	for _, e := range req.Entities {
		return sdk.Schema{}, &sdk.Error{Code: sdk.CodeUnknownEntity, Entity: e,
			Summary: "dropbox has no record entities",
			Detail:  "it is a document store: attach it to the record source with attach_to and configure files, not entities"}
	}
	return sdk.Schema{}, nil
}
