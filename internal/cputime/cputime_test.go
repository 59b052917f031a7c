package cputime

import (
	"testing"
	"time"
)

// Work done between two readings shows in the second.
func TestSelfGrowsWithWork(t *testing.T) {
	before := Self()
	x := 0
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
		x++
	}
	if got := Self() - before; got < 10*time.Millisecond {
		t.Fatalf("50 ms of busy loop (%d turns) read as %v of CPU", x, got)
	}
}
