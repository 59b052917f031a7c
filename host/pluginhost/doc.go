// Package pluginhost finds, verifies, launches and supervises the connector
// plugin processes of the hub.
//
// Discover lists the plugin binaries of a directory and of the config's
// explicit `plugin "name" { path, sha256 }` blocks and refuses a binary whose
// sha256 differs from the one the config gives. Inspect starts a binary once
// and reports what it is (for `synchub plugins`). A Host runs one plugin
// process for one source and hands out an sdk.Client that stays valid across
// restarts of that process.
//
// go-plugin launches the processes: gRPC only, AutoMTLS, raised message
// limits, and the binary's checksum checked again at every launch. A plugin
// inherits none of the hub's environment (SkipHostEnv): it gets go-plugin's
// variables, a private TMPDIR the host removes after the process (where
// go-plugin puts its socket), Options.Env, and the hub's GOGC and GOMEMLIMIT
// when they are set (the collector's settings, see internal/gcdefault).
// go-plugin leaves supervision to
// us, so a Host adds it:
//
//   - Deadlines. A call without an earlier deadline of its own gets
//     Options.CallTimeout. Streams (Fetch, Deletions, ListIDs, ListFiles,
//     ReadFile, WriteFile) get it as an idle timeout per message instead, so
//     a long healthy pass is not cut short while a plugin that stops sending
//     is caught; the time the caller spends handling a page does not count.
//     When the host's own deadline expires the plugin is taken to be hung: it
//     is killed and restarted, and the call fails with CodeUnavailable. A
//     caller's own earlier deadline or cancellation ends the call without
//     killing anything.
//   - Crashes. When the process exits on its own (or is killed as hung or
//     unhealthy), the Host relaunches it with exponential backoff and
//     configures it again. A call in flight fails with CodeUnavailable so the
//     pipeline can retry from its last committed cursor; calls made during the
//     restart wait for it within their deadline. After Options.MaxRestarts
//     consecutive failures (a process that ran for a minute resets the count)
//     the source is FAILED: calls fail fast until an admin calls Restart.
//   - Health. The host pings every Options.HealthInterval over go-plugin's
//     gRPC health service (with a deadline, which ClientProtocol.Ping lacks);
//     a failed ping kills and restarts the plugin.
//   - Orphans. The SDK's Serve exits when its parent dies, so a hub killed
//     with SIGKILL leaves no plugin behind.
//
// Plugin logs (hclog JSON on the plugin's stderr) are relayed into
// Options.Logger named after the source.
//
// This package must not know any connector or back end: it reaches plugins
// only through sdk.Client and the plugin protocol. It knows nothing of the
// store, the pull and push pipelines or the HCL config: callers hand it plain
// Specs, Options and JSON.
package pluginhost
