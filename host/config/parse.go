package config

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// Defaults, as documented in doc.go.
const (
	defaultListen             = "127.0.0.1:8080"
	defaultDatabase           = "sqlite"
	defaultPluginDir          = "bin/plugins"
	defaultDataDir            = "./data"
	defaultLogLevel           = "info"
	defaultAccessTokenTTL     = 8 * time.Hour
	defaultRefreshTokenTTL    = 30 * 24 * time.Hour
	defaultTombstoneRetention = 30 * 24 * time.Hour
	defaultCallTimeout        = 2 * time.Minute
	defaultMaxBodyBytes       = 10 << 20
	defaultPullConcurrency    = 4
	defaultMaxRestarts        = 5
	defaultInterval           = 5 * time.Minute
	defaultMaxStaleness       = time.Minute
	defaultBatchSize          = 100
	maxBatchSize              = 1000
	defaultPageSize           = 1000
	maxPageSize               = 5000
	defaultPolicy             = "server_wins"
	defaultFileMode           = "on_demand"
	defaultRole               = "user"
	minCheckpointKeyLen       = 32
)

var (
	rootSchema = &hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{
		{Type: "hub"},
		{Type: "plugin", LabelNames: []string{"name"}},
		{Type: "source", LabelNames: []string{"name"}},
		{Type: "user", LabelNames: []string{"name"}},
	}}
	hubSchema = &hcl.BodySchema{Attributes: attrSchemas(
		"listen", "database", "plugin_dir", "data_dir", "log_format", "log_level",
		"access_token_ttl", "refresh_token_ttl", "tombstone_retention", "max_body_bytes",
		"checkpoint_key", "pull_concurrency", "call_timeout", "max_restarts")}
	pluginSchema = &hcl.BodySchema{Attributes: attrSchemas("path", "sha256")}
	sourceSchema = &hcl.BodySchema{
		Attributes: attrSchemas("plugin", "config", "interval", "max_staleness", "batch_size", "attach_to"),
		Blocks:     []hcl.BlockHeaderSchema{{Type: "entity", LabelNames: []string{"name"}}},
	}
	entitySchema = &hcl.BodySchema{
		Attributes: attrSchemas("fields", "filter", "partition_by", "parents", "conflict",
			"tie_break", "field_owner", "page_size", "read_only"),
		Blocks: []hcl.BlockHeaderSchema{{Type: "files"}},
	}
	filesSchema = &hcl.BodySchema{Attributes: attrSchemas("mode", "suffixes", "max_size", "quota")}
	userSchema  = &hcl.BodySchema{
		Attributes: attrSchemas("password_hash", "password", "role"),
		Blocks:     []hcl.BlockHeaderSchema{{Type: "identity", LabelNames: []string{"source"}}},
	}
	identitySchema = &hcl.BodySchema{Attributes: attrSchemas("id", "login", "attributes")}
)

// attrSchemas declares optional attributes; required ones are checked by
// the decoder so that the message can name the block.
func attrSchemas(names ...string) []hcl.AttributeSchema {
	s := make([]hcl.AttributeSchema, len(names))
	for i, n := range names {
		s[i] = hcl.AttributeSchema{Name: n}
	}
	return s
}

// sourceRef is a reference to a source by name, checked once every source
// is known (blocks may come in any order).
type sourceRef struct {
	name string
	rng  hcl.Range
	// from is the referring source for attach_to, "" for an identity.
	from string
	what string
}

func parse(src []byte, filename, baseDir string, lookupEnv func(string) (string, bool)) (*Config, error) {
	file, diags := hclsyntax.ParseConfig(src, filename, hcl.InitialPos)
	if diags.HasErrors() {
		// Decoding a body with syntax errors only adds noise.
		return nil, NewDiagError(diags)
	}
	d := &decoder{ctx: evalContext(baseDir, lookupEnv), baseDir: baseDir}
	content, diags := file.Body.Content(rootSchema)
	d.diags = append(d.diags, diags...)

	cfg := &Config{File: filename}
	var hubBlock *hcl.Block
	for _, b := range content.Blocks.OfType("hub") {
		if hubBlock != nil {
			d.errorf(b.DefRange, "Duplicate hub block", "the hub block is already defined at %s; merge the two.", hubBlock.DefRange)
			continue
		}
		hubBlock = b
	}
	// The hub comes first whatever the order: plugin paths default into
	// its plugin_dir.
	cfg.Hub = d.hub(hubBlock)

	var refs []sourceRef
	seen := map[string]map[string]hcl.Range{"plugin": {}, "source": {}, "user": {}}
	for _, b := range content.Blocks {
		if b.Type == "hub" || len(b.Labels) != 1 {
			continue
		}
		name := b.Labels[0]
		if first, dup := seen[b.Type][name]; dup {
			d.errorf(b.LabelRanges[0], "Duplicate "+b.Type, "a %s named %q is already defined at %s.", b.Type, name, first)
			continue
		}
		seen[b.Type][name] = b.DefRange
		switch b.Type {
		case "plugin":
			cfg.Plugins = append(cfg.Plugins, d.plugin(b, cfg.Hub.PluginDir))
		case "source":
			s, ref := d.source(b)
			cfg.Sources = append(cfg.Sources, s)
			if ref != nil {
				refs = append(refs, *ref)
			}
		case "user":
			u, userRefs := d.user(b)
			cfg.Users = append(cfg.Users, u)
			refs = append(refs, userRefs...)
		}
	}
	d.checkSourceRefs(cfg, refs)

	if err := NewDiagError(d.diags); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (d *decoder) hub(b *hcl.Block) Hub {
	h := Hub{
		Listen:             defaultListen,
		Database:           defaultDatabase,
		PluginDir:          defaultPluginDir,
		DataDir:            defaultDataDir,
		LogLevel:           defaultLogLevel,
		AccessTokenTTL:     defaultAccessTokenTTL,
		RefreshTokenTTL:    defaultRefreshTokenTTL,
		TombstoneRetention: defaultTombstoneRetention,
		CallTimeout:        defaultCallTimeout,
		MaxBodyBytes:       defaultMaxBodyBytes,
		PullConcurrency:    defaultPullConcurrency,
		MaxRestarts:        defaultMaxRestarts,
	}
	var dbEv evaluated
	if b != nil {
		content, diags := b.Body.Content(hubSchema)
		d.diags = append(d.diags, diags...)
		attrs := content.Attributes

		if s, ev, ok := d.str(attrs, "listen"); ok {
			if err := checkListen(s); err != nil {
				d.errorf(ev.rng(), "Invalid listen address", "%s is not a listen address: %s.", ev.show(s), err)
			} else {
				h.Listen = s
			}
		}
		if s, ev, ok := d.str(attrs, "database"); ok {
			h.Database, dbEv = s, ev
		}
		d.nonEmpty(attrs, "plugin_dir", &h.PluginDir)
		d.nonEmpty(attrs, "data_dir", &h.DataDir)
		d.enum(attrs, "log_format", "Invalid log format", logFormats, &h.LogFormat)
		d.enum(attrs, "log_level", "Invalid log level", logLevels, &h.LogLevel)
		d.duration(attrs, "access_token_ttl", false, &h.AccessTokenTTL)
		d.duration(attrs, "refresh_token_ttl", false, &h.RefreshTokenTTL)
		d.duration(attrs, "tombstone_retention", false, &h.TombstoneRetention)
		d.duration(attrs, "call_timeout", false, &h.CallTimeout)
		d.size(attrs, "max_body_bytes", false, &h.MaxBodyBytes)
		if s, ev, ok := d.str(attrs, "checkpoint_key"); ok {
			if s != "" && len(s) < minCheckpointKeyLen {
				d.errorf(ev.rng(), "Checkpoint key too short",
					"checkpoint_key signs device checkpoints and must be at least %d characters (for example from `openssl rand -hex 32`); leave it empty and the hub generates one in data_dir.", minCheckpointKeyLen)
			} else {
				h.CheckpointKey = s
			}
		}
		d.integer(attrs, "pull_concurrency", 1, 256, &h.PullConcurrency)
		d.integer(attrs, "max_restarts", 0, 1000, &h.MaxRestarts)
	}
	h.PluginDir = resolvePath(d.baseDir, h.PluginDir)
	h.DataDir = resolvePath(d.baseDir, h.DataDir)
	db, err := parseDatabase(h.Database, h.DataDir, d.baseDir)
	if err != nil && dbEv.attr != nil {
		// Never quoted: a DSN may carry a password.
		d.errorf(dbEv.rng(), "Invalid database", "the database setting is not understood: %s.", err)
	}
	h.Database = db
	return h
}

// nonEmpty sets *dst from a string attribute that must not be empty.
func (d *decoder) nonEmpty(attrs hcl.Attributes, name string, dst *string) {
	s, ev, ok := d.str(attrs, name)
	if !ok {
		return
	}
	if s == "" {
		d.errorf(ev.rng(), "Empty "+name, "%s must not be empty; remove it to use the default.", name)
		return
	}
	*dst = s
}

func (d *decoder) plugin(b *hcl.Block, pluginDir string) Plugin {
	p := Plugin{Name: b.Labels[0], Range: b.DefRange}
	if !pluginNameRE.MatchString(p.Name) {
		d.errorf(b.LabelRanges[0], "Invalid plugin name",
			"%q is not a plugin name: use letters, digits, '.', '_' and '-' (it is a file name in plugin_dir).", p.Name)
	}
	content, diags := b.Body.Content(pluginSchema)
	d.diags = append(d.diags, diags...)
	attrs := content.Attributes
	p.Path = filepath.Join(pluginDir, p.Name)
	if s, ev, ok := d.str(attrs, "path"); ok {
		if s == "" {
			d.errorf(ev.rng(), "Empty path", "path must not be empty; remove it to use %s.", p.Path)
		} else {
			p.Path = resolvePath(d.baseDir, s)
		}
	}
	if s, ev, ok := d.str(attrs, "sha256"); ok {
		switch {
		case len(s) != 64:
			d.errorf(ev.rng(), "Invalid sha256", "sha256 must be 64 hexadecimal digits (as printed by `sha256sum`), got %d characters.", len(s))
		case !sha256RE.MatchString(s):
			d.errorf(ev.rng(), "Invalid sha256", "sha256 must be 64 hexadecimal digits (as printed by `sha256sum`); it holds other characters.")
		default:
			p.SHA256 = strings.ToLower(s)
		}
	}
	return p
}

func (d *decoder) source(b *hcl.Block) (Source, *sourceRef) {
	s := Source{
		Name:         b.Labels[0],
		Config:       []byte("{}"),
		Interval:     defaultInterval,
		MaxStaleness: defaultMaxStaleness,
		BatchSize:    defaultBatchSize,
		Range:        b.DefRange,
	}
	if !sourceNameRE.MatchString(s.Name) {
		d.errorf(b.LabelRanges[0], "Invalid source name",
			"%q is not a source name: use letters, digits, '_' and '-', starting with a letter or digit (it appears in URLs).", s.Name)
	}
	content, diags := b.Body.Content(sourceSchema)
	d.diags = append(d.diags, diags...)
	attrs := content.Attributes

	before := len(d.diags)
	if p, ev, ok := d.str(attrs, "plugin"); ok {
		switch {
		case p == "":
			d.errorf(ev.rng(), "Empty plugin name", "source %q needs the name of its plugin, as in plugin = \"dynamicscrm\".", s.Name)
		case !pluginNameRE.MatchString(p):
			d.errorf(ev.rng(), "Invalid plugin name", "%s is not a plugin name: use letters, digits, '.', '_' and '-'.", ev.show(p))
		default:
			s.Plugin = p
		}
	} else if len(d.diags) == before {
		d.errorf(b.DefRange, "Missing plugin", "source %q needs plugin = \"<plugin name>\", the connector plugin it runs.", s.Name)
	}
	if cfg, ok := d.object(attrs, "config"); ok {
		s.Config = cfg
	}
	d.duration(attrs, "interval", true, &s.Interval)
	d.duration(attrs, "max_staleness", true, &s.MaxStaleness)
	d.integer(attrs, "batch_size", 1, maxBatchSize, &s.BatchSize)
	var ref *sourceRef
	if a, ev, ok := d.str(attrs, "attach_to"); ok {
		s.AttachTo = a
		ref = &sourceRef{name: a, rng: ev.rng(), from: s.Name, what: "attach_to"}
	}

	var metas []entityMeta
	seen := map[string]hcl.Range{}
	for _, eb := range content.Blocks.OfType("entity") {
		if len(eb.Labels) != 1 {
			continue
		}
		name := eb.Labels[0]
		if first, dup := seen[name]; dup {
			d.errorf(eb.LabelRanges[0], "Duplicate entity", "source %q already has an entity %q, defined at %s.", s.Name, name, first)
			continue
		}
		seen[name] = eb.DefRange
		e, meta := d.entity(eb, s.Name)
		s.Entities = append(s.Entities, e)
		metas = append(metas, meta)
	}
	d.checkParents(&s, metas)
	return s, ref
}

func (d *decoder) user(b *hcl.Block) (User, []sourceRef) {
	u := User{Name: b.Labels[0], Role: defaultRole, Identities: map[string]Identity{}}
	if !validUserName(u.Name) {
		d.errorf(b.LabelRanges[0], "Invalid user name", "%q is not a user name: it must not be empty or contain spaces.", u.Name)
	}
	content, diags := b.Body.Content(userSchema)
	d.diags = append(d.diags, diags...)
	attrs := content.Attributes

	before := len(d.diags)
	if s, ev, ok := d.str(attrs, "password_hash"); ok {
		if !bcryptRE.MatchString(s) {
			d.errorf(ev.rng(), "Invalid password hash",
				"password_hash of user %q is not a bcrypt hash ($2a$, $2b$ or $2y$, cost 04-31, 60 characters).", u.Name)
		} else {
			u.PasswordHash = s
		}
	}
	if s, ev, ok := d.str(attrs, "password"); ok {
		if s == "" {
			d.errorf(ev.rng(), "Empty password", "password of user %q must not be empty.", u.Name)
		} else {
			u.Password = s
		}
	}
	if _, hasHash := attrs["password_hash"]; hasHash {
		if p, hasPlain := attrs["password"]; hasPlain {
			d.errorf(p.NameRange, "Conflicting passwords", "user %q has both password_hash and password; keep one (password_hash outside dev).", u.Name)
		}
	}
	if u.PasswordHash == "" && u.Password == "" && len(d.diags) == before {
		d.errorf(b.DefRange, "Missing password", "user %q needs password_hash = \"$2a$...\" (bcrypt) or, in dev, password = \"...\".", u.Name)
	}
	d.enum(attrs, "role", "Invalid role", roles, &u.Role)

	var refs []sourceRef
	seen := map[string]hcl.Range{}
	for _, ib := range content.Blocks.OfType("identity") {
		if len(ib.Labels) != 1 {
			continue
		}
		src := ib.Labels[0]
		if first, dup := seen[src]; dup {
			d.errorf(ib.LabelRanges[0], "Duplicate identity", "user %q already has an identity for source %q, defined at %s.", u.Name, src, first)
			continue
		}
		seen[src] = ib.DefRange
		refs = append(refs, sourceRef{name: src, rng: ib.LabelRanges[0], what: fmt.Sprintf("identity of user %q", u.Name)})
		u.Identities[src] = d.identity(ib, u.Name)
	}
	return u, refs
}

func (d *decoder) identity(b *hcl.Block, user string) Identity {
	var id Identity
	content, diags := b.Body.Content(identitySchema)
	d.diags = append(d.diags, diags...)
	attrs := content.Attributes
	before := len(d.diags)
	who := fmt.Sprintf("the identity of user %q on source %q", user, b.Labels[0])
	hasID, hasLogin := false, false
	if s, ev, ok := d.str(attrs, "id"); ok {
		if s == "" {
			d.errorf(ev.rng(), "Empty identity id", "%s needs the user's id in that back end.", who)
		}
		id.ID, hasID = s, true
	}
	if s, ev, ok := d.str(attrs, "login"); ok {
		if strings.TrimSpace(s) == "" {
			d.errorf(ev.rng(), "Empty identity login", "%s needs the user's sign-in name in that back end (an e-mail address or domain name).", who)
		}
		id.Login, id.LoginRange, hasLogin = s, ev.rng(), true
	}
	switch {
	case hasID && hasLogin:
		d.errorf(attrs["login"].NameRange, "Conflicting identity", "%s has both id and login; keep one: id is the user's id in the back end, login asks the connector for it.", who)
	case !hasID && !hasLogin && len(d.diags) == before:
		d.errorf(b.DefRange, "Missing identity id", "%s needs id = \"<the user's id in that back end>\" or login = \"<the user's e-mail or domain name>\".", who)
	}
	if items, ok := d.strMap(attrs, "attributes"); ok {
		id.Attributes = make(map[string]string, len(items))
		for _, it := range items {
			switch {
			case it.key == "owner":
				d.errorf(it.rng, "Reserved attribute", `"owner" is reserved: "owner:<field>" partition rules compare with the identity's id.`)
			case !identRE.MatchString(it.key):
				d.errorf(it.rng, "Invalid attribute name", "%q is not an attribute name: use letters, digits and '_', starting with a letter or '_'.", it.key)
			default:
				id.Attributes[it.key] = it.val
			}
		}
	}
	return id
}

// checkSourceRefs checks identity labels and attach_to once every source
// is known.
func (d *decoder) checkSourceRefs(cfg *Config, refs []sourceRef) {
	names := make([]string, len(cfg.Sources))
	for i, s := range cfg.Sources {
		names[i] = s.Name
	}
	for _, r := range refs {
		target, found := cfg.Source(r.name)
		switch {
		case r.from != "" && r.name == r.from:
			d.errorf(r.rng, "Invalid attach_to", "source %q cannot attach to itself; attach_to names the source whose records its files belong to.", r.from)
		case !found:
			d.errorf(r.rng, "Unknown source", "%s names source %q, which is not defined%s", r.what, r.name, knownList(r.name, names))
		case r.from != "" && target.AttachTo != "":
			d.errorf(r.rng, "Invalid attach_to", "source %q attaches to %q, which itself attaches to %q; attach to a source with records of its own.", r.from, r.name, target.AttachTo)
		}
	}
}

// knownList helps the admin with a near miss or the full list.
func knownList(given string, names []string) string {
	if s := suggest(given, names); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	if len(names) == 0 {
		return " (no sources are defined)."
	}
	return " (defined: " + strings.Join(names, ", ") + ")."
}
