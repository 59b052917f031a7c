// Package gcdefault sets the Go garbage collector's default for the hub's
// process and the plugins' processes.
//
// Both hold a small live heap (tens of MB: a page, a batch, the caches)
// and allocate quickly while they sync: decoded pages, statements'
// arguments, records on their way. With Go's default (GOGC=100) the
// collector runs each time the heap doubles from that small base, and P5
// of docs/BENCHMARKS.md measured it at a quarter of the hub's CPU and a
// third of the plugin's while they pushed. A higher GOGC lets the heap
// grow to a few times the live data between collections: some tens of MB
// more for much less CPU. An operator's own GOGC or GOMEMLIMIT in the
// environment always wins.
package gcdefault

import (
	"fmt"
	"os"
	"runtime/debug"
	"strings"
)

// Percent is the GOGC the hub and the plugins run with unless their
// environment sets one: the heap may grow to four times the live data
// between collections.
const Percent = 300

// Apply sets GOGC to Percent unless the environment sets GOGC or
// GOMEMLIMIT (an operator who bounds the memory chooses the trade
// themselves). It reports whether it set it.
func Apply() bool {
	if fromEnv() {
		return false
	}
	debug.SetGCPercent(Percent)
	return true
}

// fromEnv reports whether the environment chooses the collector's setting.
func fromEnv() bool { return os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" }

// Describe says which setting a process that called Apply runs with, for
// reports and logs: "GOGC=300 (synchub's default)", or the environment's
// GOGC and GOMEMLIMIT.
func Describe() string {
	if !fromEnv() {
		return fmt.Sprintf("GOGC=%d (synchub's default)", Percent)
	}
	var set []string
	for _, name := range []string{"GOGC", "GOMEMLIMIT"} {
		if v := os.Getenv(name); v != "" {
			set = append(set, name+"="+v)
		}
	}
	return strings.Join(set, ", ") + " (from the environment)"
}
