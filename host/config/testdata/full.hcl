# Every attribute set to something other than its default.
hub {
  listen              = "0.0.0.0:9090"
  database            = "sqlite:db/hub.db"
  plugin_dir          = "plugins"
  data_dir            = "/var/lib/synchub"
  log_format          = "json"
  log_level           = "debug"
  access_token_ttl    = "1h30m"
  refresh_token_ttl   = "7d"
  tombstone_retention = "1d12h"
  max_body_bytes      = "1MiB"
  checkpoint_key      = env("FULL_CHECKPOINT_KEY")
  pull_concurrency    = 8
  call_timeout        = "45s"
  max_restarts        = 0
}

user "alice" {
  password_hash = "$2a$10$GqySabaAL39fPiALCeSf0OyuwmJ/ZsWvsUhmyQMeI3tczXci2J4Yq"
  identity "crm" {
    id         = "alice-crm-id"
    attributes = { business_unit = "bu-1", region = "north" }
  }
  identity "docs" {
    id = "alice@example.com"
  }
}

user "root" {
  password = "dev-only"
  role     = "admin"
}

plugin "dynamicscrm" {
  path   = "/opt/synchub/dynamicscrm"
  sha256 = "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08"
}

plugin "dropbox" {}

source "crm" {
  plugin = "dynamicscrm"
  config = {
    url           = "https://contoso.crm4.dynamics.com"
    client_secret = file("crm-secret.txt")
    retries       = 3
    scopes        = ["a", "b"]
    nested        = { on = true, nothing = null }
  }
  interval      = "0"
  max_staleness = "30s"
  batch_size    = 1000

  entity "account" {
    fields       = ["name", "revenue", "description", "_ownerid_value"]
    filter       = "statecode eq 0"
    partition_by = "owner:_ownerid_value"
    conflict     = "merge"
    tie_break    = "user_decides"
    field_owner  = { revenue = "server", description = "device" }
    page_size    = 5000
    read_only    = false
  }

  entity "contact" {
    partition_by = "business_unit:_owningbusinessunit_value"
    parents      = ["account"]
    conflict     = "device_wins_full"
    read_only    = true
    files {
      mode     = "eager"
      suffixes = [".PDF", "jpg"]
      max_size = 1000
      quota    = "2GB"
    }
  }

  entity "product" {
    partition_by = "*"
    files {}
  }
}

source "docs" {
  plugin    = "dropbox"
  attach_to = "crm"
}
