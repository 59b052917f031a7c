// Command synchub is the hub: it serves the device and admin API, runs the
// pull and push pipelines, and supervises the connector plugins.
//
//	synchub serve --config FILE     run the hub
//	synchub dev                     run the demo (emulators + hub on SQLite)
//	synchub validate --config FILE  check a config, launch each plugin, run Check
//	synchub plugins --dir DIR       list plugins: name, version, protocol, capabilities, sha256
//	synchub emulate NAME            run a back-end emulator standalone
//	synchub version
package main

import (
	"fmt"
	"os"

	"github.com/synchub/synchub/internal/gcdefault"
)

func main() {
	gcdefault.Apply()
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "synchub:", err)
		os.Exit(1)
	}
}
