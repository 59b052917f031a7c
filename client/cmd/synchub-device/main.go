// Command synchub-device is the device side of synchub on a command line:
// log in to a hub, sync, read and edit records offline, resolve sync
// errors and fetch files. It wraps the client library
// (github.com/synchub/synchub/client) and nothing else: it knows the hub
// only through it, and never imports the hub's packages.
//
// Output to stdout is the product's output (tables, ids, NDJSON events);
// diagnostics go to stderr through hclog; a failure is one line on stderr
// with a hint, and exit status 1.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], streams{in: os.Stdin, out: os.Stdout, err: os.Stderr}, os.Getenv)
	stop()
	os.Exit(code)
}
