# The smallest valid synchub config: a hub with every default and no
# sources. It listens on 127.0.0.1:8080, keeps SQLite in ./data/synchub.db
# and looks for plugins in ./bin/plugins (both relative to this file's
# directory). See `go doc ./host/config` for every setting.
hub {}
