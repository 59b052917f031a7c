// Package e2e holds the end-to-end tests: real plugin binaries (built by the
// tests) talk to the back ends' emulators, the hub runs on SQLite (and on
// PostgreSQL when SYNCHUB_TEST_POSTGRES is set), and devices sync through the
// client library. Each scenario asserts that both devices and the back end
// converge, with nothing lost and nothing duplicated.
package e2e
