// Command dynamicscrm is the Dynamics 365 CRM (Dataverse) connector plugin.
package main

import (
	"github.com/synchub/synchub/connectors/dynamicscrm"
	"github.com/synchub/synchub/sdk"
)

func main() { sdk.Serve(dynamicscrm.New()) }
