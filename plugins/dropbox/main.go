// Command dropbox serves the Dropbox connector (connectors/dropbox) as a
// synchub plugin. make build puts it in bin/plugins/dropbox.
package main

import (
	"github.com/synchub/synchub/connectors/dropbox"
	"github.com/synchub/synchub/sdk"
)

func main() { sdk.Serve(dropbox.New()) }
