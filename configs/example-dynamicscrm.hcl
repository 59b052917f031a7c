# Example: Dynamics 365 / Dataverse as a back end.
#
# Accounts and contacts sync to the devices of their owners; their notes'
# documents (annotation) come along as the records' files. Secrets come from the environment:
#
#   export CRM_TENANT_ID=... CRM_CLIENT_ID=... CRM_CLIENT_SECRET=...
#   synchub validate configs/example-dynamicscrm.hcl
#
# The reference of every setting is `go doc ./host/config`.
# Relative paths are relative to this file's directory (configs/).

hub {
  listen     = "127.0.0.1:8080"
  database   = "sqlite"           # <data_dir>/synchub.db; or env("DATABASE_URL") for PostgreSQL
  plugin_dir = "../bin/plugins"   # where `make plugins` puts the binaries
  data_dir   = "../data"
  log_level  = "info"

  access_token_ttl  = "8h"
  refresh_token_ttl = "30d"

  # Signs device checkpoints. Empty: the hub generates one in data_dir.
  checkpoint_key = env("SYNCHUB_CHECKPOINT_KEY", "")
}

# Optional: pin the plugin binary. Without this block the hub finds
# ../bin/plugins/dynamicscrm by name.
plugin "dynamicscrm" {
  path = "../bin/plugins/dynamicscrm"
  # sha256 = "<output of sha256sum bin/plugins/dynamicscrm>"
}

source "crm" {
  plugin = "dynamicscrm"

  # Passed to the connector as JSON. An app registration with the
  # client-credentials grant and an application user in Dataverse.
  config = {
    url           = "https://contoso.crm4.dynamics.com"
    tenant_id     = env("CRM_TENANT_ID")
    client_id     = env("CRM_CLIENT_ID")
    client_secret = env("CRM_CLIENT_SECRET")
  }

  interval      = "5m"   # scheduled pulls
  max_staleness = "1m"   # a device sync pulls entities older than this
  batch_size    = 100    # mutations per $batch

  entity "account" {
    fields = [
      "name", "accountnumber", "telephone1", "address1_city",
      "revenue", "description", "ownerid",
    ]
    filter       = "statecode eq 0"          # active accounts only
    partition_by = "owner:ownerid"           # each user gets the accounts they own
    conflict     = "merge"                   # disjoint field edits merge...
    tie_break    = "server_wins"             # ...overlaps keep the server's value
    field_owner  = {
      revenue     = "server"                 # finance owns revenue
      description = "device"                 # the field rep owns the description
    }
    page_size = 1000

    files {                                  # the documents of the accounts' notes
      mode     = "eager"                     # fetch during sync, not when opened
      suffixes = [".pdf", ".jpg", ".png"]
      max_size = "10MiB"                     # larger files are listed, fetched on demand
      quota    = "100MiB"                    # per device
    }
  }

  entity "contact" {
    fields = [
      "firstname", "lastname", "fullname", "emailaddress1", "telephone1",
      "parentcustomerid", "owningbusinessunit",
    ]
    filter       = "statecode eq 0"
    # Everyone in the same business unit sees its contacts; the unit comes
    # from the user's identity attributes below.
    partition_by = "business_unit:owningbusinessunit"
    parents      = ["account"]               # a new account goes up before its contacts
    conflict     = "device_wins"             # the device's changed fields win
  }

  entity "product" {                         # the catalogue: everyone, read only
    fields       = ["name", "productnumber", "price"]
    partition_by = "*"
    read_only    = true
  }
}

# Example passwords (hashes of alice-dev-password, bob-dev-password and
# admin-dev-password). Make your own with
#   htpasswd -bnBC 10 "" 'the password' | tr -d ':\n'
user "alice" {
  password_hash = "$2a$10$GqySabaAL39fPiALCeSf0OyuwmJ/ZsWvsUhmyQMeI3tczXci2J4Yq"
  identity "crm" {
    id         = "6f0d2c1e-8a4b-4c3d-9e5f-1a2b3c4d5e6f"   # systemuserid
    attributes = { business_unit = "0b7a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d" }
  }
}

user "bob" {
  password_hash = "$2a$10$C2Z4qW8XEaD8wlbEMeD9se3NHSRdSKDLGVB639rqpM/026MTseTKW"
  identity "crm" {
    id         = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"   # or: login = "bob@contoso.com" (the connector looks the systemuser up)
    attributes = { business_unit = "0b7a1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d" }
  }
}

user "admin" {
  password_hash = "$2a$10$0eknn8KsM05QsR9sGnpIS.jqF4sFN7fDQxIJFINnG/k1kmfDTQm2W"
  role          = "admin"   # may use the admin API; no crm identity, so only "*" entities on devices
}
