package main

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/synchub/synchub/host/push"
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
			"decode loop. The plugin scans each page row by row and writes each record's JSON from the row (`odata.DecodePageRaw`, "+
			"`converter.rawRecord`); the hub checks each record's JSON, decodes only the partition and filter fields and writes each "+
			"page while it receives the next. See `docs/bench/p1-cpu.pprof` for the hub's share.",
			x.hub/float64(b.o.records)*1e6, x.plugin/float64(b.o.records)*1e6, x.emulator/float64(b.o.records)*1e6, b.m.CPUs))
	}
	if b.missed("P1", "PostgreSQL") {
		note := "**P1 (PostgreSQL)**: the pull is bound by the page writes on the server: each page is one transaction (the existing " +
			"rows, a seq bump, the records and partition items upserted from one array per column, the files that follow the records, the " +
			"entity's state) to a server process whose CPU the per-process figures do not count; the hub writes a page while it receives " +
			"and converts the next, and the seq bump orders the pages' commits (devices read changes by seq), so two pages cannot be " +
			"written at once."
		if b.p1.pgProf != "" {
			if total, cum, err := profileTop(b.p1.pgProf); err == nil {
				note += fmt.Sprintf(" The hub's profile of a PostgreSQL pull (%.1f s sampled) has `store.ApplyBatch` at %.0f %% of its CPU.",
					total, share(cum, "github.com/synchub/synchub/host/store.(*Store).ApplyBatch"))
			}
		}
		notes = append(notes, note)
	}
	if b.missed("P4", "") {
		if path := b.profilePath("p4-cpu.pprof"); path != "" {
			if total, cum, err := profileTop(path); err == nil {
				notes = append(notes, fmt.Sprintf("**P4**: %d devices polling every %s offer about %.0f polls/s; an empty poll runs about six "+
					"queries (token with its user and device in one, identity, source seq, partition floors, changes, applied mutations; "+
					"`EnsureFresh` reads the entity states only when its memo of their last successes says one may be stale). In the "+
					"SQLite profile (%.1f s sampled, the pollers in the same process) `authenticate` takes %.0f %% of the CPU besides the "+
					"handler, `EnsureFresh` %.0f %%, the changes query %.0f %%, garbage collection %.0f %%. On PostgreSQL each query is a "+
					"round trip on the pool of 25 connections, whose waits add to the latency once the 2 cores are busy.",
					b.o.devices, b.o.poll, float64(b.o.devices)/b.o.poll.Seconds(), total,
					share(cum, "github.com/synchub/synchub/host/api.(*Server).authenticate")-share(cum, "github.com/synchub/synchub/host/api.(*Server).changes"),
					share(cum, "github.com/synchub/synchub/host/pull.(*Puller).EnsureFresh"),
					share(cum, "github.com/synchub/synchub/host/store.(*Store).Changes"),
					share(cum, "runtime.gcBgMarkWorker")))
			}
		}
	}
	if b.missed("P5", "SQLite") {
		notes = append(notes, b.p5SQLiteNote())
	}
	if b.missed("P5", "PostgreSQL") {
		notes = append(notes, b.p5PostgresNote())
	}
	if path := b.profilePath("p3-cpu.pprof"); path != "" {
		if total, cum, err := profileTop(path); err == nil {
			notes = append(notes, fmt.Sprintf("**P3** (no bar, for the record): in the profile of the first download (%.1f s sampled, hub and device "+
				"library in one process) the device library takes %.0f %% (`client.(*Client).download`): records without local edits, "+
				"all of a first download, are written a page at a time (`pageApply.applyPlain` %.0f %%: one query for the page's change-log "+
				"entries, batched upserts, one shadow DELETE per chunk), each record's JSON checked and compacted on the way "+
				"(`normaliseJSON`); the hub's `changes` handler takes %.0f %%, %.0f %% of it gzip (`compress/flate` at BestSpeed, on loopback).",
				total, share(cum, "github.com/synchub/synchub/client.(*Client).download"),
				share(cum, "github.com/synchub/synchub/client.(*pageApply).applyPlain"),
				share(cum, "github.com/synchub/synchub/host/api.(*Server).changes"),
				share(cum, "compress/flate.(*compressor).write")))
		}
	}
	if b.missed("P2", "") {
		notes = append(notes, b.p2Note())
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

// p5SQLiteNote explains a miss of P5 on the hub's default store from the
// apply run's profile and the hub-alone run's: how much of the stage is
// the hub's own bookkeeping, and how much of that is SQLite itself.
func (b *bench) p5SQLiteNote() string {
	var s strings.Builder
	bound := "the hub's own bookkeeping alone does not reach the target"
	if b.p5alone >= 0.5 {
		bound = "the hub's own bookkeeping alone would reach the target; the stage misses it with the plugin and the emulator " +
			"on the same cores"
	}
	fmt.Fprintf(&s, "**P5 (SQLite)**: the hub alone, its back end answering every Upload at once, applies %.2f × the raw `$batch` rate: "+
		"%s. Exactly once costs each mutation durable writes on the "+
		"store's one writer: its op is inserted (without the mutation's fields, which it shares) and the mutation marked in flight "+
		"before the call, then the record goes to the mirror "+
		"(record, partition item), the mutation is marked applied with its seq and the op deleted, one transaction per batch of %d. ",
		b.p5alone, bound, uploadBatch)
	if b.p5book > 0 {
		fmt.Fprintf(&s, "The same writes made by a plain loop of statements on the same schema reach %.2f × the raw rate: ", b.p5book)
		if b.p5book >= 0.5 {
			fmt.Fprintf(&s, "the store's writes are not what stops the stage; the hub's work around them (planning, reading the "+
				"mutations and the mirror's existing records, the lookups of waiting mutations and of files, Go code between "+
				"statements) takes the hub alone from there to %.2f ×. ", b.p5alone)
		} else {
			s.WriteString("the store's durable writes alone do not reach the target on this machine. ")
		}
	}
	if path := b.profilePath("p5-hub-cpu.pprof"); path != "" {
		if total, cum, err := profileTop(path); err == nil {
			sqlite := share(cum, "runtime.cgocall") / 100 * total
			bound := float64(b.o.mutations) / max(sqlite, 1e-9)
			fmt.Fprintf(&s, "In the hub-alone profile (%.1f s sampled) planning takes %.0f %%, recording the results %.0f %% "+
				"(`recorder.flush` %.0f %%) and SQLite's own C code (`runtime.cgocall`) %.1f s: at that cost alone, with no Go code "+
				"around it and nothing else on the writer, the stage would apply %s = %.2f × the raw rate. ",
				total, share(cum, "github.com/synchub/synchub/host/push.(*runner).plan"),
				share(cum, "github.com/synchub/synchub/host/push.(*runner).record"),
				share(cum, "github.com/synchub/synchub/host/push.(*recorder).flush"), sqlite,
				rate(bound), bound/max(b.p5raw, 1e-9))
		}
	}
	if ph := b.p5phases; ph[0] > 0 && b.p5alone > 0 && b.p5raw > 0 {
		wall := float64(b.o.mutations) / (b.p5alone * b.p5raw)
		fmt.Fprintf(&s, "In the hub-alone run (medians) the first Upload came %.2f s after the push started and the last one %.2f s "+
			"before the end, of about %.2f s. A push run plans in steps: its first plan takes only the mutations of the first "+
			"Upload calls that go at once, and each later plan runs while the batches already planned are on their way, so the plugin and "+
			"the back end do not wait through the whole plan; the plans and the recording of answers share the store's one "+
			"writer, and answers that come faster than it records them queue behind it. ",
			ph[0], ph[1], wall)
	}
	if path := b.profilePath("p5-cpu.pprof"); path != "" {
		if total, cum, err := profileTop(path); err == nil {
			fmt.Fprintf(&s, "In the apply run's profile of the hub (%.1f s sampled over %.1f s of wall time) recording the results "+
				"takes %.0f %% and the garbage collector %.0f %%. ",
				total, b.p5wall, share(cum, "github.com/synchub/synchub/host/push.(*runner).record"), share(cum, "runtime.gcBgMarkWorker"))
		}
	}
	if path := b.profilePath("p5-plugin-cpu.pprof"); path != "" {
		if total, cum, err := profileTop(path); err == nil {
			fmt.Fprintf(&s, "The plugin process, profiled on its own from its start, used %.1f s of CPU, %.0f %% of it in Upload "+
				"(the rest is its first pull and the runtime). ",
				total, share(cum, "github.com/synchub/synchub/sdk.(*grpcServer).Upload"))
		}
	}
	s.WriteString(b.p5cpu.note(b.m.CPUs, b.o.mutations, b.p5raw))
	fmt.Fprintf(&s, "%d Upload calls wait at once while another goroutine records the answers, so the plugin, the emulator and the "+
		"store work side by side on the %d cores, which the three share.", push.UploadsInFlight, b.m.CPUs)
	return s.String()
}

// p5PostgresNote explains a miss of P5 with the hub's store on
// PostgreSQL: what the server's own CPU leaves of the cores' time at the
// target.
func (b *bench) p5PostgresNote() string {
	var s strings.Builder
	s.WriteString("**P5 on PostgreSQL** (the issue's P5 names no database: the row above is the hub's default store, and this one is " +
		"measured against the same bar for the record). The stage is slower than on SQLite: each of the dozen or so statements a " +
		"batch's plan and record take is a round trip to the server, whose process shares the same cores, and each of the two status " +
		"changes of a mutation (in flight, applied) writes a new version of its row (a narrow one: the fields live beside " +
		"it in push_mutation_bodies) with an entry in each of its six indexes (the status is indexed, so PostgreSQL cannot " +
		"update the row in place). ")
	c := b.p5pgCPU
	if c.wall <= 0 || b.p5pgRaw <= 0 {
		return s.String()
	}
	cores := float64(b.m.CPUs)
	window := float64(b.o.mutations) / (0.5 * b.p5pgRaw)
	budget := cores * window
	fixed := c.emulator + c.others
	fmt.Fprintf(&s, "In its apply run (medians) the hub used %.2f s of CPU, the plugin %.2f s, the emulator %.2f s and the "+
		"rest of the machine, PostgreSQL's server above all, %.2f s, in %.2f s of wall time. At 0.5 × the raw rate the run would "+
		"have %.2f s, that is %.2f s of CPU on %d cores; the emulator and the server alone used %.2f s of it (%.0f %%), leaving "+
		"%.2f s for the hub and the plugin, which used %.2f s. ",
		c.bench, c.plugin, c.emulator, c.others, c.wall, window, budget, b.m.CPUs, fixed, 100*fixed/budget,
		max(budget-fixed, 0), c.bench+c.plugin)
	if fixed+c.plugin > budget {
		fmt.Fprintf(&s, "Even a hub that cost nothing would miss on this machine: the plugin's %.2f s, the same whatever the "+
			"hub's store, does not fit in what the server and the emulator leave. ", c.plugin)
	}
	return s.String()
}

// p2Note explains a P2 miss: how far apart the runs were, and what the
// processes' CPU says the boundary costs.
func (b *bench) p2Note() string {
	lo, hi := slices.Min(b.p2.ratios), slices.Max(b.p2.ratios)
	s := fmt.Sprintf("**P2**: the per-run ratios ran from %.3f to %.3f, so the median of %d runs moves by more than the bar's "+
		"margin from one invocation to the next. ", lo, hi, len(b.p2.ratios))
	s += fmt.Sprintf("The CPU the pulls took (hub, plugin and emulator together; the pull keeps both cores busy) says what "+
		"the boundary costs the machine: out of process the median run took %.3f × the CPU of in process. ", b.p2.cpu)
	if b.p2.cpu > 1.10 {
		s += "That is the boundary's own cost: protobuf and gRPC on both sides (each page's JSON is copied into the message, " +
			"framed, encrypted by go-plugin's mutual TLS and copied out again); read the hub's `sdk.readPages` and the plugin's " +
			"`sdk.(*grpcServer).Fetch` in the profiles."
	} else {
		s += "By that measure the boundary is within the bar, and the miss is the machine's run-to-run spread, not the boundary."
	}
	return s
}
