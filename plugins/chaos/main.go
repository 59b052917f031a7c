// Command chaos serves the chaos connector, which crashes, hangs, panics and
// returns garbage on command. It exists only for the plugin host's tests.
package main

import (
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/sdktest/chaosconn"
)

func main() { sdk.Serve(chaosconn.New()) }
