// Command memconn serves the in-memory reference connector as a synchub
// plugin (see sdk/sdktest/memconn). make build puts it in bin/plugins/memconn.
package main

import (
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/sdktest/memconn"
)

func main() { sdk.Serve(memconn.New()) }
