// Package events is the hub's in-process change notification: the pull
// stage publishes "source S has committed changes up to seq N in these
// partitions", and each device's server-sent-events stream subscribes to
// the partitions of its user.
//
// Delivery is a hint, not data: an event carries no records, only the
// source and a seq, so the device answers it by calling the changes
// endpoint. That is what lets a slow subscriber be coalesced instead of
// blocking anyone: each subscriber has a buffer of one event, and a newer
// event replaces an unread one (keeping the higher seq). Publish never
// blocks and never allocates per subscriber beyond that slot.
//
// The package knows nothing of HTTP, storage or users: partitions are plain
// strings. A Hub notifies within one process; with several hub instances on
// one PostgreSQL database, package pgnotify carries each instance's
// publishes to the others (LISTEN/NOTIFY) and feeds them to their Hubs
// through Publish and Wake.
package events

import (
	"sync"
)

// Event says that source has committed changes up to Seq in at least one
// partition of the subscription.
type Event struct {
	Source string `json:"source"`
	Seq    int64  `json:"seq"`
}

// Hub fans published changes out to subscribers. The zero value is not
// usable; make one with New. It is safe for concurrent use.
type Hub struct {
	mu sync.RWMutex
	// subs indexes subscribers by source, then partition.
	subs map[string]map[string]map[*subscriber]struct{}
}

type subscriber struct {
	source string
	parts  []string
	ch     chan Event
	mu     sync.Mutex // serializes the replace-on-full of ch
	closed bool
}

// New returns an empty hub.
func New() *Hub {
	return &Hub{subs: map[string]map[string]map[*subscriber]struct{}{}}
}

// Publish announces that source committed changes up to seq touching
// partitions. Each subscriber of any of them gets one event (at most one
// per call, however many of its partitions match). It never blocks: a
// subscriber that has not read its previous event gets it replaced by this
// one, or keeps it when that one has the higher seq.
func (h *Hub) Publish(source string, partitions []string, seq int64) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	byPart := h.subs[source]
	if len(byPart) == 0 {
		return
	}
	var seen map[*subscriber]struct{}
	if len(partitions) > 1 {
		seen = map[*subscriber]struct{}{}
	}
	for _, p := range partitions {
		for s := range byPart[p] {
			if seen != nil {
				if _, dup := seen[s]; dup {
					continue
				}
				seen[s] = struct{}{}
			}
			s.offer(Event{Source: source, Seq: seq})
		}
	}
}

// Wake gives every subscriber of source one event with seq, whatever its
// partitions: for a notice that could not name them all, or for catching up
// after notices may have been missed. Like Publish it never blocks.
func (h *Hub) Wake(source string, seq int64) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	h.eachSubscriber(source, func(s *subscriber) { s.offer(Event{Source: source, Seq: seq}) })
}

// eachSubscriber calls fn once per subscriber of source, however many of
// its partitions it holds. The caller holds h.mu.
func (h *Hub) eachSubscriber(source string, fn func(*subscriber)) {
	seen := map[*subscriber]struct{}{}
	for _, set := range h.subs[source] {
		for s := range set {
			if _, dup := seen[s]; !dup {
				seen[s] = struct{}{}
				fn(s)
			}
		}
	}
}

// Sources lists the sources that have at least one subscriber, in no
// particular order.
func (h *Hub) Sources() []string {
	h.mu.RLock()
	defer h.mu.RUnlock()
	out := make([]string, 0, len(h.subs))
	for source := range h.subs {
		out = append(out, source)
	}
	return out
}

// offer puts ev in the subscriber's slot, replacing an unread event with
// the higher of the two seqs.
func (s *subscriber) offer(ev Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	select {
	case s.ch <- ev:
		return
	default:
	}
	// Full: take the unread event out (the reader may have taken it in the
	// meantime, then the slot is free) and put back the newer one. Only
	// offer sends, under s.mu, so the second send cannot block.
	select {
	case old := <-s.ch:
		if old.Seq > ev.Seq {
			ev = old
		}
	default:
	}
	s.ch <- ev
}

// Subscribe returns a channel of events for changes of source in any of
// partitions, and a cancel function that ends the subscription and closes
// the channel. cancel may be called more than once.
func (h *Hub) Subscribe(source string, partitions []string) (<-chan Event, func()) {
	s := &subscriber{source: source, parts: append([]string(nil), partitions...), ch: make(chan Event, 1)}
	h.mu.Lock()
	byPart := h.subs[source]
	if byPart == nil {
		byPart = map[string]map[*subscriber]struct{}{}
		h.subs[source] = byPart
	}
	for _, p := range s.parts {
		set := byPart[p]
		if set == nil {
			set = map[*subscriber]struct{}{}
			byPart[p] = set
		}
		set[s] = struct{}{}
	}
	h.mu.Unlock()
	var once sync.Once
	return s.ch, func() { once.Do(func() { h.unsubscribe(s) }) }
}

func (h *Hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	if byPart := h.subs[s.source]; byPart != nil {
		for _, p := range s.parts {
			delete(byPart[p], s)
			if len(byPart[p]) == 0 {
				delete(byPart, p)
			}
		}
		if len(byPart) == 0 {
			delete(h.subs, s.source)
		}
	}
	h.mu.Unlock()
	s.mu.Lock()
	s.closed = true
	close(s.ch)
	s.mu.Unlock()
}

// Subscribers counts the live subscriptions of source (for tests and
// metrics).
func (h *Hub) Subscribers(source string) int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	h.eachSubscriber(source, func(*subscriber) { n++ })
	return n
}
