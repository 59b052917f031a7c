package config

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
)

// Config is a loaded, validated config with every default applied and every
// relative path resolved. Nothing in it needs checking again.
type Config struct {
	Hub     Hub
	Plugins []Plugin
	Sources []Source
	Users   []User
	// File is the config file's name as given to Load or Parse; diagnostics
	// use the same name.
	File string
}

// Hub holds the hub block: how the hub process listens, stores and
// supervises.
type Hub struct {
	// Listen is the HTTP listen address, host:port.
	Listen string
	// Database is normalized: "sqlite:<file path>" for SQLite (the plain
	// "sqlite" of the config becomes "sqlite:<DataDir>/synchub.db") or the
	// PostgreSQL DSN exactly as written. Use DatabaseKind and DatabaseDSN.
	Database string
	// PluginDir and DataDir are resolved against the config file's directory.
	PluginDir, DataDir string
	// LogFormat is "human", "json" or "" when the config leaves the choice to
	// the command (human for dev, json for serve); a CLI flag overrides it.
	LogFormat string
	// LogLevel is an hclog level name: trace, debug, info, warn, error or off.
	LogLevel string
	// AccessTokenTTL and RefreshTokenTTL bound device tokens.
	AccessTokenTTL, RefreshTokenTTL time.Duration
	// TombstoneRetention is how long REMOVE tombstones are kept; a device
	// whose checkpoint is older resyncs the partition in full.
	TombstoneRetention time.Duration
	// CallTimeout is the deadline on each plugin call.
	CallTimeout time.Duration
	// MaxBodyBytes caps request bodies.
	MaxBodyBytes int64
	// CheckpointKey signs checkpoint tokens; empty means the hub generates
	// one and keeps it in DataDir. It is a secret: never log it.
	CheckpointKey string
	// PullConcurrency is how many entities of one source are pulled at once.
	PullConcurrency int
	// MaxRestarts is how many crashes in a row a plugin may have before it
	// is marked FAILED.
	MaxRestarts int
}

// Plugin is an explicitly declared plugin binary. Plugins not declared are
// discovered in Hub.PluginDir by file name.
type Plugin struct {
	Name string
	// Path is resolved against the config file's directory; when the block
	// gives none it is <Hub.PluginDir>/<Name>.
	Path string
	// SHA256 is empty or 64 lower-case hex digits the binary must hash to.
	SHA256 string
	Range  hcl.Range
}

// Source is one connector instance: one plugin process with its own
// credentials.
type Source struct {
	Name string
	// Plugin names the plugin binary (a plugin block or a file in PluginDir).
	Plugin string
	// Config is the source's config object as a JSON object ("{}" when
	// absent), handed to the connector's Configure. It usually holds
	// credentials: never log it.
	Config json.RawMessage
	// Interval is the scheduled pull interval; 0 disables scheduling.
	Interval time.Duration
	// MaxStaleness makes a device sync trigger a pull of an entity whose last
	// pull is older; 0 means every sync pulls.
	MaxStaleness time.Duration
	// BatchSize is the push batch size, 1..1000.
	BatchSize int
	// AttachTo names the source whose records this document store's files
	// attach to; empty for ordinary sources.
	AttachTo string
	Entities []Entity
	// Range is the block header, `source "name"`.
	Range hcl.Range
}

// Entity is one record type of a source and how it syncs.
type Entity struct {
	Name string
	// Fields is the projection; empty means every field of the schema.
	Fields []string
	// Filter is the OData $filter text as written, "" for none. It is parsed
	// by the filter package; report its errors with ErrorAt(FilterRange, ...).
	Filter string
	// FilterRange is the range of the filter expression, quotes included;
	// zero when there is no filter.
	FilterRange hcl.Range
	Partition   PartitionRule
	// Parents names entities of the same source uploaded before this one.
	// The loader has checked that they exist and form no cycle.
	Parents []string
	// Conflict is the conflict policy: server_wins, device_wins,
	// device_wins_full, last_write_wins, user_decides or merge.
	Conflict string
	// TieBreak is the policy for overlapping fields under merge: any policy
	// but merge.
	TieBreak string
	// FieldOwner maps a field to "server" or "device"; nil when not given.
	FieldOwner map[string]string
	// PageSize is the pull page size, 1..5000.
	PageSize int
	ReadOnly bool
	// Files is the blob filter for the entity's attachments; nil when the
	// entity has no files block (all files on demand, no limits).
	Files *FileRule
	// Range is the block header, `entity "name"`.
	Range hcl.Range
}

// PartitionRule says which users see a record of an entity.
type PartitionRule struct {
	// All is set for "*": every user sees every record.
	All bool
	// Attr is "owner" for "owner:<field>" (the field equals the user's
	// Identity.ID on this source) or the identity attribute name for
	// "<attr>:<field>" (the field equals Identity.Attributes[Attr]).
	Attr string
	// Field is the record field compared.
	Field string
	// Raw is the rule as written.
	Raw string
}

// FileRule is the blob filter that decides which files devices fetch
// eagerly.
type FileRule struct {
	// Mode is "eager" or "on_demand".
	Mode string
	// Suffixes are lower-case and start with a dot; empty means all files.
	// Match them case-insensitively.
	Suffixes []string
	// MaxSize is the largest file fetched eagerly, in bytes; larger files are
	// listed but only fetched on demand. 0 means no limit.
	MaxSize int64
	// Quota is the bytes per device for this entity's files; 0 means no limit.
	Quota int64
}

// User is a hub account. Exactly one of PasswordHash and Password is set.
type User struct {
	Name string
	// PasswordHash is a bcrypt hash ($2a$, $2b$ or $2y$).
	PasswordHash string
	// Password is a plain-text password, meant for dev configs only.
	Password string
	// Role is "user" or "admin".
	Role string
	// Identities maps a source name to the user's identity in that back end;
	// never nil.
	Identities map[string]Identity
}

// Identity is who a user is in one source's back end. Exactly one of ID
// and Login is set.
type Identity struct {
	// ID is the user's id in the back end; owner partition fields are
	// compared to it.
	ID string
	// Login is the user's sign-in name in the back end (an e-mail address or
	// domain name). The hub asks the source's connector for the user's id
	// and attributes (sdk.UserResolver) when the source starts.
	Login string
	// LoginRange is the range of the login value; zero without a login.
	LoginRange hcl.Range
	// Attributes are compared by "<attr>:<field>" partition rules; nil when
	// not given. With a login they are merged over the connector's: the
	// config's win.
	Attributes map[string]string
}

// Load reads the config file at path, evaluates and validates it, applies
// defaults and resolves relative paths against the file's directory (made
// absolute). Diagnostics name path as given. A config that does not load
// returns a *DiagError listing every problem found.
func Load(path string) (*Config, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return parse(src, path, dir, os.LookupEnv)
}

// Parse is Load for a config already in memory. Relative paths resolve
// against filepath.Dir(filename), as given.
func Parse(src []byte, filename string) (*Config, error) {
	return parse(src, filename, filepath.Dir(filename), os.LookupEnv)
}

// Source returns the source called name.
func (c *Config) Source(name string) (*Source, bool) {
	for i := range c.Sources {
		if c.Sources[i].Name == name {
			return &c.Sources[i], true
		}
	}
	return nil, false
}

// Plugin returns the plugin block called name; a source's plugin without a
// block is found by discovery instead.
func (c *Config) Plugin(name string) (*Plugin, bool) {
	for i := range c.Plugins {
		if c.Plugins[i].Name == name {
			return &c.Plugins[i], true
		}
	}
	return nil, false
}

// User returns the user called name (names are case-sensitive).
func (c *Config) User(name string) (*User, bool) {
	for i := range c.Users {
		if c.Users[i].Name == name {
			return &c.Users[i], true
		}
	}
	return nil, false
}

// Entity returns the source's entity called name.
func (s *Source) Entity(name string) (*Entity, bool) {
	for i := range s.Entities {
		if s.Entities[i].Name == name {
			return &s.Entities[i], true
		}
	}
	return nil, false
}

// DatabaseKind is "sqlite" or "postgres".
func (c *Config) DatabaseKind() string {
	if c.Hub.Database == "" || c.Hub.Database == "sqlite" || strings.HasPrefix(c.Hub.Database, "sqlite:") {
		return "sqlite"
	}
	return "postgres"
}

// DatabaseDSN is the SQLite file path (or ":memory:") when DatabaseKind is
// "sqlite", and the PostgreSQL DSN otherwise. A DSN may hold a password:
// never log it.
func (c *Config) DatabaseDSN() string {
	switch db := c.Hub.Database; {
	case db == "" || db == "sqlite":
		return filepath.Join(c.Hub.DataDir, "synchub.db")
	case strings.HasPrefix(db, "sqlite:"):
		return strings.TrimPrefix(db, "sqlite:")
	default:
		return db
	}
}
