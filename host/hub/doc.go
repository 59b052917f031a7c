// Package hub assembles the hub from its parts: it opens the store, starts
// one plugin host per configured source and checks each source against its
// connector (Configure, Check, Schema, configured fields and filters), then
// wires the pull pipeline and the REST API, and serves until stopped.
//
// It is the only place that knows every part; the parts know only the
// interfaces they consume. Tests and the demo inject in-process connectors
// (sdk.InProcess) instead of plugin binaries through Options.Clients.
package hub
