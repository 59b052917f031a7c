package dropbox_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/synchub/synchub/connectors/dropbox"
	"github.com/synchub/synchub/connectors/dropbox/contenthash"
	"github.com/synchub/synchub/connectors/dropbox/emulator"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/sdktest"
)

// TestConformance runs the SDK's conformance suite against the connector
// and the emulator, in process and over gRPC. The connector is a document
// store: no entities, and the file case writes onto a seeded record.
func TestConformance(t *testing.T) {
	ref := sdk.RecordRef{Entity: "account", ID: "acc-0001", Name: "Contoso Ltd"}
	emu := emulator.New(emulator.Options{Seed: 7, Records: []emulator.RecordFolder{
		{Entity: ref.Entity, Name: ref.Name, ID: ref.ID},
		{Entity: "contact", Name: "Ada Lovelace", ID: "con-0001"},
	}})
	base, err := emu.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(emu.Close)
	cfg, _ := json.Marshal(map[string]any{"access_token": emulator.DefaultAccessToken,
		"api_url": base, "content_url": base, "page_limit": 3})
	written := fmt.Sprintf("%s/%s/%s_%s/sdktest.bin", emulator.DefaultRoot, ref.Entity, ref.Name, ref.ID)
	sdktest.Run(t, sdktest.Config{
		New: func(*testing.T) sdk.Connector {
			emu.DeleteFile(written) // each case writes it anew
			return dropbox.New()
		},
		ConfigJSON: cfg,
		FileRecord: ref,
		FileHash:   contenthash.Of,
	})
}
