// Package config loads and validates the admin's HCL config for the hub:
// the hub block, explicit plugins, sources with their entities and file
// rules, and users with their back-end identities.
//
// Load fails early and completely: it reports every problem it finds (only
// syntax errors stop it, since decoding a broken file adds noise), each
// as "file:line,column-column: Summary; detail" on its own line (a
// *DiagError), and a Config it returns needs no further checking. Other
// packages that check parts of the config later (filter syntax, plugin
// binaries, connector config schemas) report with ErrorAt at the ranges
// kept in the Config, so the admin sees one format.
//
// The package knows nothing of plugins, stores or the API: it does not open
// files other than the config and file() arguments, does not check that
// plugin binaries or directories exist, and does not parse filters.
//
// # Configuration reference
//
// A config file is HCL (https://github.com/hashicorp/hcl) native syntax
// with four block types: one optional hub block, and any number of plugin,
// source and user blocks, in any order. Unknown blocks or attributes, wrong
// types and invalid values are errors. An attribute set to null takes its
// default. Relative paths resolve against the directory of the config file,
// not the working directory.
//
// Durations are Go duration strings ("90s", "5m", "1h30m") or whole days,
// alone or in front of a Go duration ("30d", "1d12h"). Sizes are a number of
// bytes (10485760 or "10485760") or a string with a unit: B, KB, MB, GB, TB
// (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), case-insensitive.
//
// # Functions
//
// Two functions are available in every expression:
//
//	env("NAME")             the environment variable NAME; an error naming NAME if it is unset
//	env("NAME", "default")  the variable, or "default" when it is unset (set but empty gives "")
//	file("path")            the contents of a UTF-8 text file of at most 1 MiB, path relative
//	                        to the config file's directory, trailing newlines removed
//
// Values produced by env() and file() are treated as secrets: error messages
// never quote them, even when they are invalid. They may be used inside
// strings ("Bearer ${env("TOKEN")}") and objects. There are no variables.
//
// # hub
//
//	hub {
//	  listen              = "127.0.0.1:8080"   # host:port; default "127.0.0.1:8080"
//	  database            = "sqlite"           # default; see below
//	  plugin_dir          = "bin/plugins"      # default "bin/plugins"
//	  data_dir            = "./data"           # default "./data"
//	  log_format          = "json"             # human | json; default: the command decides
//	  log_level           = "info"             # trace | debug | info | warn | error | off; default info
//	  access_token_ttl    = "8h"               # default 8h
//	  refresh_token_ttl   = "30d"              # default 30d
//	  tombstone_retention = "30d"              # default 30d
//	  max_body_bytes      = "10MiB"            # request body cap; default 10MiB
//	  checkpoint_key      = env("SYNCHUB_CHECKPOINT_KEY", "")
//	  pull_concurrency    = 4                  # 1..256; default 4
//	  call_timeout        = "2m"               # deadline on each plugin call; default 2m
//	  max_restarts        = 5                  # 0..1000; default 5
//	}
//
// The hub block may be omitted; every attribute has the default shown.
// plugin_dir and data_dir resolve against the config file's directory, so a
// config in configs/ that uses the repository's bin/plugins says
// plugin_dir = "../bin/plugins".
//
// database is one of:
//
//	"sqlite"                 SQLite in <data_dir>/synchub.db (the default)
//	"sqlite:<path>"          SQLite in that file (relative to the config file), or "sqlite::memory:"
//	"postgres://..."         a PostgreSQL URL (also "postgresql://...")
//	"host=... dbname=..."    a PostgreSQL keyword/value DSN
//
// An invalid database setting is reported without quoting it, since a DSN
// may carry a password. log_format and log_level are overridden by the CLI's
// flags. The hub's durations and max_body_bytes must be larger than zero.
//
// checkpoint_key signs the checkpoint tokens handed to devices. When empty
// or absent, the hub generates a key and keeps it in data_dir; when set it
// must be at least 32 characters. Use env() with a default, as above: a
// plain env("SYNCHUB_CHECKPOINT_KEY") is an error when the variable is unset.
//
// # plugin
//
//	plugin "dynamicscrm" {
//	  path   = "../bin/plugins/dynamicscrm"    # default <plugin_dir>/<name>
//	  sha256 = "9f86d0...0f00a08"              # optional: 64 hex digits the binary must hash to
//	}
//
// Plugin blocks are optional: a source's plugin that has no block is looked
// up in plugin_dir by file name. A block pins a path or a checksum. Plugin
// names are file names: letters, digits, '.', '_' and '-'. The loader checks
// the sha256 format only; the plugin host checks the binary.
//
// # source
//
//	source "crm" {
//	  plugin        = "dynamicscrm"                  # required
//	  config        = {                              # optional object, passed to the connector as JSON
//	    url           = "https://contoso.crm.dynamics.com"
//	    client_secret = env("CRM_SECRET")
//	  }
//	  interval      = "5m"     # scheduled pull interval; "0" disables scheduling; default 5m
//	  max_staleness = "1m"     # a device sync pulls an entity older than this; "0" = every sync; default 1m
//	  batch_size    = 100      # push batch size, 1..1000; default 100
//	  attach_to     = "crm"    # document stores only, see below
//
//	  entity "account" { ... }
//	}
//
// A source is one connector instance and one plugin process. Its name
// appears in URLs: letters, digits, '_' and '-'. config may nest objects and
// lists; it reaches the connector as a plain JSON object and usually holds
// credentials, so read them with env() or file().
//
// attach_to makes a document-store source (SharePoint, OneDrive, Dropbox)
// serve the files of another source's records: it must name another source
// that is not itself attached. Whether the plugin is a document store is
// checked by the plugin host, not here.
//
// # entity
//
//	entity "account" {
//	  fields       = ["name", "telephone1", "_ownerid_value"]  # projection; empty or absent = all fields
//	  filter       = "statecode eq 0"        # OData $filter subset; optional
//	  partition_by = "owner:_ownerid_value"  # required
//	  parents      = ["account"]             # entities uploaded before this one
//	  conflict     = "server_wins"           # default server_wins
//	  tie_break    = "server_wins"           # overlapping fields under merge; default server_wins
//	  field_owner  = { revenue = "server", description = "device" }
//	  page_size    = 1000                    # 1..5000; default 1000 (connectors may cap lower)
//	  read_only    = false                   # default false
//	  files { ... }                          # optional
//	}
//
// Entity names are the back end's record type names; they must not contain
// '/', '=' or control characters. Entity names are unique within a source.
//
// partition_by says which users see a record, and has no default so that a
// forgotten rule cannot hand every record to everyone:
//
//	"*"                  every user sees every record
//	"owner:<field>"      the record's <field> equals the user's identity id on this source
//	"<attr>:<field>"     the record's <field> equals the user's identity attribute <attr>
//	                     on this source, e.g. "business_unit:_owningbusinessunit_value"
//
// When fields is given, the partition field and every field_owner key must
// be among the fields.
//
// parents name entities of the same source that must reach the back end
// before this one (an order's lines after the order). A parent that is not
// an entity of the source, and a cycle of parents, are errors; the cycle is
// named in the message.
//
// conflict is one of server_wins, device_wins (the device's changed fields
// win), device_wins_full (the device's whole record wins), last_write_wins,
// user_decides (parked until the device resolves it) and merge (disjoint
// field edits merge; overlapping fields follow tie_break). tie_break takes
// any of these but merge. field_owner names fields whose "server" or
// "device" side wins whatever the policy.
//
// filter is checked by the filter package; errors point at its range.
//
// # files
//
//	files {
//	  mode     = "eager"             # eager | on_demand; default on_demand
//	  suffixes = [".pdf", ".jpg"]    # empty or absent = all files; case-insensitive
//	  max_size = "10MiB"             # larger files are listed but never eager; 0 (default) = no limit
//	  quota    = "100MiB"            # bytes per device for this entity's files; 0 (default) = no limit
//	}
//
// A files block is the blob filter for the attachments of an entity's
// records. Without one, files are listed and fetched on demand with no
// limits. Suffixes are stored lower-case with a leading dot ("PDF" becomes
// ".pdf").
//
// # user
//
//	user "alice" {
//	  password_hash = "$2a$10$..."   # bcrypt; or password = "..." (dev only); exactly one is required
//	  role          = "user"         # user | admin; default user
//	  identity "crm" {               # the user's identity on source "crm"
//	    id         = "6f0d...-guid"  # the user's id in that back end; or:
//	    # login    = "alice@contoso.com"  # the user's sign-in name: the connector finds the id
//	    attributes = { business_unit = "..." }
//	  }
//	}
//
// User names are unique, case-sensitive and contain no spaces. An identity
// label must name a source; a user without an identity on a source sees only
// that source's "*" entities. Attribute names are letters, digits and '_';
// "owner" is reserved for the id.
//
// An identity gives exactly one of id and login. With login (an e-mail
// address or domain name) the hub asks the source's connector for the user
// when the source starts and when an admin restarts it: the id it answers is
// the identity's id, and the attributes it answers (Dynamics CRM:
// business_unit) are the identity's attributes, merged under the config's
// attributes, which win. A source whose connector cannot resolve logins
// (its plugin does not announce resolve_user) fails validate and start,
// naming the user, the source and the plugin. A login the back end does not
// know leaves the user without an identity on that source (only "*"
// entities) and is shown in the admin API's source status as an
// identity error; the hub runs on.
package config
