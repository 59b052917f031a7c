package main

import (
	"fmt"
	"path/filepath"
	"strings"
)

// missed says whether a row of id whose "what" contains sub missed.
func (b *bench) missed(id, sub string) bool {
	for _, r := range b.rows {
		if r.ID == id && r.Status == miss && strings.Contains(r.What, sub) {
			return true
		}
	}
	return false
}

func (b *bench) profilePath(name string) string {
	for _, p := range b.profiles {
		if filepath.Base(p) == name {
			return p
		}
	}
	return ""
}

// missNotes explains each miss from the profiles of this run. The
// mechanisms named were read in the code at the time the benchmark was
// written; the shares are this run's.
func (b *bench) missNotes() []string {
	var notes []string
	if b.missed("P1", "SQLite") && b.p1.profiled {
		x := b.p1.breakdown
		notes = append(notes, fmt.Sprintf("**P1 (SQLite)**: per record the hub spends %.0f µs of CPU, the plugin %.0f µs and the emulator "+
			"(with the bench process) %.0f µs, on %d cores shared by the three processes, while ceiling (a) is the emulator alone with a plain "+
			"decode loop. The plugin decodes each page into maps (`odata.DecodePage`), converts the rows and encodes them again "+
			"(`json.Marshal` in `sdk.recordToPB`); writing the record JSON straight from the page's tokens, without the map, is the next step. "+
			"The hub stores the plugin's JSON as it came and decodes only the partition and filter fields.",
			x.hub/float64(b.o.records)*1e6, x.plugin/float64(b.o.records)*1e6, x.emulator/float64(b.o.records)*1e6, b.m.CPUs))
	}
	if b.missed("P1", "PostgreSQL") {
		x := b.p1.breakdown
		notes = append(notes, fmt.Sprintf("**P1 (PostgreSQL)**: the pull waits on the database more than it computes: each page is a transaction "+
			"of several round trips (existing rows, a seq bump, record and partition-item upserts, the files that follow the records) to a "+
			"server process whose CPU the per-process figures do not count, and the next page waits for the commit beyond the one page "+
			"read ahead. The mirror's statistics are refreshed as it grows (`ANALYZE` each time the rows written double), so the lookups "+
			"stay on the primary key; before that fix the pull slowed down with the mirror's size. Hub CPU in the SQLite run: %.1f s.",
			x.hub))
	}
	if b.missed("P4", "") {
		if path := b.profilePath("p4-cpu.pprof"); path != "" {
			if total, cum, err := profileTop(path); err == nil {
				notes = append(notes, fmt.Sprintf("**P4**: %d devices polling every %s offer about %.0f polls/s; an empty poll runs about nine "+
					"queries (token, user, device, identity, entity states for `EnsureFresh`, source seq, partition floors, changes, applied "+
					"mutations). In the profile (%.1f s sampled, the pollers in the same process) `authenticate` takes %.0f %% of the CPU "+
					"besides the handler, `EnsureFresh` %.0f %%, the changes query %.0f %%, garbage collection %.0f %%. Next steps: one joined "+
					"query for token, user and device; cache `EnsureFresh`'s entity states for a second; a SQLite read pool above GOMAXPROCS.",
					b.o.devices, b.o.poll, float64(b.o.devices)/b.o.poll.Seconds(), total,
					share(cum, "github.com/synchub/synchub/host/api.(*Server).authenticate")-share(cum, "github.com/synchub/synchub/host/api.(*Server).changes"),
					share(cum, "github.com/synchub/synchub/host/pull.(*Puller).EnsureFresh"),
					share(cum, "github.com/synchub/synchub/host/store.(*Store).Changes"),
					share(cum, "runtime.gcBgMarkWorker")))
			}
		}
	}
	if b.missed("P5", "") {
		if path := b.profilePath("p5-cpu.pprof"); path != "" {
			if total, cum, err := profileTop(path); err == nil {
				notes = append(notes, fmt.Sprintf("**P5**: the profile of the apply stage (%.1f s sampled in the bench process, where the hub "+
					"and the emulator run, over %.1f s of wall time) shows one push worker doing the work in sequence, on one core at a "+
					"time: planning the accepted mutations into ops (`planner.run` %.0f %%, of which reading the devices' creates for "+
					"lookups `loadCreates` %.0f %%; ops and statuses are written with one statement per chunk), then for each batch of %d "+
					"the Upload call, during which the hub waits for the plugin (its own process, not in this profile) and the emulator "+
					"(`serveBatch` %.0f %%), then the recording of the results (`sendBatch` %.0f %% in all, the mirror and status writes "+
					"`flush` %.0f %%). The raw loop does only the emulator's part. Next steps: overlap the next batch's Upload with the "+
					"recording of the previous one and keep several Upload calls in flight (the stage uses one of the two cores), and "+
					"decode each op's fields once (`decodeFields` %.0f %%).",
					total, b.p5wall, share(cum, "github.com/synchub/synchub/host/push.(*planner).run"),
					share(cum, "github.com/synchub/synchub/host/push.(*planner).loadCreates"), uploadBatch,
					share(cum, "github.com/synchub/synchub/connectors/dynamicscrm/emulator.(*Server).serveBatch"),
					share(cum, "github.com/synchub/synchub/host/push.(*runner).sendBatch"),
					share(cum, "github.com/synchub/synchub/host/push.(*recorder).flush"),
					share(cum, "github.com/synchub/synchub/host/push.decodeFields")))
			}
		}
	}
	if path := b.profilePath("p3-cpu.pprof"); path != "" {
		if total, cum, err := profileTop(path); err == nil {
			notes = append(notes, fmt.Sprintf("**P3** (no bar, for the record): in the profile of the first download (%.1f s sampled, hub and device "+
				"library in one process) the device library takes %.0f %% (`client.(*Client).download`), of which `pageApply.settle` %.0f %%: for "+
				"every op it looks up the record's change-log entries, deletes its shadow row and upserts the record, three statements per record "+
				"even when the device has no local edits; the hub's `changes` handler takes %.0f %%, %.0f %% of it gzip (`compress/flate` at "+
				"BestSpeed, on loopback). Next step: in `pageApply`, read the change-log entries of the page's ids with one query and take the "+
				"plain path (batched upsert, one shadow DELETE per page) for ids without entries.",
				total, share(cum, "github.com/synchub/synchub/client.(*Client).download"),
				share(cum, "github.com/synchub/synchub/client.(*pageApply).settle"),
				share(cum, "github.com/synchub/synchub/host/api.(*Server).changes"),
				share(cum, "compress/flate.(*compressor).write")))
		}
	}
	if b.missed("P2", "") {
		notes = append(notes, "**P2**: the plugin boundary costs more than 10 %: compare the hub's `sdk.recordFromPB` share with the in-process "+
			"path, which hands the connector's maps over without JSON.")
	}
	if b.missed("P6", "") {
		notes = append(notes, "**P6**: the hub's peak RSS grows with the records pulled: read `docs/bench/p1-heap.pprof` with "+
			"`-sample_index=inuse_space` for what is held.")
	}
	if b.missed("P7", "") {
		notes = append(notes, "**P7**: the incremental path's cost grows with the mirror: compare the pull and sync parts in the per-run "+
			"figures; a query that scans the entity (not an index range) is the usual cause.")
	}
	return notes
}
