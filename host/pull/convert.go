package pull

import (
	"github.com/synchub/synchub/host/config"
	"github.com/synchub/synchub/host/store"
	"github.com/synchub/synchub/sdk"
)

// MirrorRecords turns records of an entity, as its connector returned them,
// into mirror rows exactly as a pull would: those matching the entity's
// filter projected and placed in their partition, the ids of the others
// returned for removal. The push stage writes the back end's answer to an
// applied mutation with it, so a pushed record looks in the mirror as if
// it had been pulled.
func MirrorRecords(src *config.Source, ent *config.Entity, es sdk.EntitySchema, recs []sdk.Record) (puts []store.MirrorRecord, removes []string, err error) {
	pl, err := newPlan(src, ent, es)
	if err != nil {
		return nil, nil, err
	}
	return pl.convert(recs)
}
