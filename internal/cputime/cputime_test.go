package cputime

import (
	"testing"
	"time"
)

// Busy work shows in the reading: a busy loop must see it grow by 20 ms
// well within 10 s of wall time, however loaded the machine.
func TestSelfGrowsWithWork(t *testing.T) {
	before := Self()
	deadline := time.Now().Add(10 * time.Second)
	for turns := 0; ; turns++ {
		if Self()-before >= 20*time.Millisecond {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s of busy loop (%d turns) read as %v of CPU", turns, Self()-before)
		}
	}
}
