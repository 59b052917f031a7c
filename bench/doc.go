// Command bench measures the synchub pipeline against its own ceilings and
// writes docs/BENCHMARKS.md. `make bench` runs it after `make build` (it
// needs bin/plugins/dynamicscrm); BENCHFLAGS passes flags, e.g.
// `make bench BENCHFLAGS="--only P1,P4 --runs 5"`. `make bench-full` runs
// the large sizes (--full) into docs/BENCHMARKS-full.md, profiles in
// docs/bench/full. The report names the commit measured, taken when the
// run starts, with "+ uncommitted changes" if tracked files other than
// the run's own report and profiles differed from it then.
//
// Benchmarks are programs, not timed unit tests: everything runs for real
// on loopback — the Dataverse emulator (connectors/dynamicscrm/emulator)
// as the back end, the dynamicscrm plugin as its own process launched by
// the hub's plugin host, the hub's store on SQLite and on PostgreSQL, the
// REST API on a TCP listener and the device library (client) with its own
// SQLite file. Each figure is the median of --runs runs; each ratio is
// computed per round from runs made one after the other in that round
// (the machine is shared and noisy) and its median reported.
//
// The hub (in this process and in the pull child) and the plugin run with
// the collector setting the synchub binary and sdk.Serve use
// (internal/gcdefault: GOGC=300 unless the environment sets GOGC or
// GOMEMLIMIT); the emulator child, the back end, keeps Go's default. The
// report's machine table says which setting ran.
//
//   - P1, full pull: the emulator holds --records accounts of about 1 KB
//     (200,000; 1,000,000 with --full). A child process (this binary
//     re-executed with -pull-child) opens a fresh store, starts the hub with
//     the real plugin and runs one full pull of "account"; it reports the
//     pull's wall time, its own and the plugin's CPU time and peak RSS.
//     Ceiling (a) replays the connector's recorded first page request and
//     follows the next links with the same headers, JSON-decoding each page
//     in a plain loop in the emulator's process. Ceiling (b) writes the same
//     number of rows shaped like the mirror's records (same columns and
//     primary key, fields taken from the first page) into a fresh table of
//     the same database with the store's SQLite settings, a transaction per
//     page, 100-row prepared INSERTs. Target: P1 ≥ 0.5 × the slower one.
//     A pull running longer than --pull-limit is stopped and its rate
//     taken from the records it committed; such a database is not run
//     again in later rounds.
//   - P2: the same pull (SQLite) with the connector behind sdk.InProcess,
//     made just before the out-of-process pull of its round; the ratio
//     out-of-process / in-process time, and beside it the ratio of the CPU
//     the two pulls took (hub, plugin and emulator). A round runs P2's
//     pull, P1's on SQLite and the two ceilings one after the other; P1's
//     PostgreSQL runs, each with its ceiling (b), come after the SQLite
//     rounds (ceiling (a) is the SQLite round's).
//   - P3: a new device logs in and downloads the mirror a P1 run left
//     (partition "*": every record) through the client library into its
//     SQLite store; records/s and the ratio to P1 on SQLite.
//   - P4: a hub whose mirror is filled directly (store.ApplyBatch of
//     records converted by pull.MirrorRecords) with 20 accounts for each of
//     --devices users, each in the user's own partition; the users come
//     from the config with a minimum-cost bcrypt hash so that logging in
//     1,000 devices is quick. Every device logs in over HTTP with its own
//     connection, downloads its slice, then polls `changes` with its
//     checkpoint, pausing --poll-interval (±20 %) between polls, for
//     --poll-for per run: once with no new data and once while records of
//     random users change 10 times a second. Latency is measured by the
//     devices, after a first interval so that every device has started.
//     On SQLite, and on PostgreSQL unless --postgres off.
//   - P5: the emulator runs in a child process of its own (this binary
//     with -emulator-child), as a real back end does, so that the hub's,
//     the plugin's and the emulator's CPU are each read from their own
//     process. Its raw `$batch` ingest (a plain loop posting the
//     creates as the connector writes a non-atomic batch: odata.Batch, each
//     create a request of its own with the connector's Prefer, 100 per
//     request) against the pipeline: a device creates --mutations accounts
//     offline, syncs (uploads in calls of 100), and the hub pushes them
//     through the plugin. The ratio is the apply stage's: once the upload
//     is accepted, the push stage drains the source (Pusher.PushSource,
//     what the job the upload queued runs), and the time runs until it
//     returns, every mutation recorded applied. The first round also times
//     the whole from the device's sync, the hub started with its River
//     queue and pushing meanwhile (end to end, no bar; its end is read
//     from the hub's metrics every 20 ms). A third run times the same apply stage with the connector
//     in process and Upload answered at once (the hub alone), which
//     separates the hub's own bookkeeping from the plugin and back end.
//     With PostgreSQL, runs made after the SQLite rounds time the apply
//     stage with the hub's store there, each against a raw run of its own
//     made just before it (the server's work after a run, autovacuum and
//     checkpoints, would otherwise fall into the next SQLite round). A
//     plain loop of the push stage's durable writes on a fresh
//     store (the store's writes alone) is the last reference. Each run
//     also reads the CPU each process used (/proc, getrusage; /proc/stat
//     for the rest of the machine, PostgreSQL's server among it), which
//     the note compares with what the cores give at the target.
//   - P6: the hub process's VmHWM (from /proc, in the pull child, so the
//     emulator and the plugin are not counted) at the P1 size and, from
//     extra children, at 100,000 records.
//   - P7: two hubs side by side whose mirrors hold 10,000 and
//     --growth-records records (the emulator's 100 accounts plus filler
//     records of 1,000 other owners written with store.ApplyBatch); each
//     run edits 10 of the device user's accounts in the emulator and times
//     an incremental pull plus the device's sync.
//
// P1's child writes a CPU profile and an allocation profile of its first
// SQLite run (and has its plugin write one), and a CPU profile of its
// first PostgreSQL run, to --profile-dir (docs/bench); P3, P4 and P5 (the
// apply run and the hub-alone run) profile the bench process, and P5's
// first apply run its plugin. The report explains where P1's time goes from the profile, and
// each miss from the profile of its benchmark.
//
// PostgreSQL comes from --postgres, else SYNCHUB_TEST_POSTGRES, else the
// local postgres://postgres@127.0.0.1:5432/test; each run uses a schema of
// its own, dropped afterwards; an unreachable server is skipped.
// SYNCHUB_BENCH_LOG=<level> shows the pull children's hub logs.
package main
