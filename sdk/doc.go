// Package sdk is what a partner imports to write a synchub connector plugin.
//
// A connector is a value that implements Connector (Describe, Configure, Check,
// Schema) and any of the optional capability interfaces: Fetcher,
// DeleteTracker, IDLister, Uploader, FileLister, FileReader, FileWriter. The SDK
// discovers capabilities by type assertion and announces them to the hub, so a
// connector only writes the methods its back end supports.
//
// A plugin's main is one line:
//
//	func main() { sdk.Serve(mycrm.New()) }
//
// Serve does the whole go-plugin and gRPC wiring: the handshake, AutoMTLS,
// raised message limits, splitting pages so no message nears the limit, and
// exiting when the hub that started the plugin dies. Partners never import
// go-plugin or gRPC.
//
// The host reaches a connector through the Client interface, either over gRPC
// (NewGRPCClient, used by host/pluginhost) or in the same process (InProcess,
// used by tests and benchmarks). Both behave the same: the conformance suite in
// sdk/sdktest runs every case through both.
//
// This package must not know about the hub's storage, API or configuration
// format: it speaks only in records, pages, cursors, mutations and files.
package sdk
