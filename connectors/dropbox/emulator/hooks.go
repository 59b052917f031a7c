package emulator

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/synchub/synchub/connectors/dropbox/contenthash"
)

// PutFile adds or overwrites the file at path server-side, as a Dropbox
// user would (missing folders are created), and returns its metadata. It
// panics when path is not an absolute path or a file is in the way of a
// folder it needs: a test's mistake.
func (s *Server) PutFile(path string, content []byte) Metadata {
	data := append([]byte(nil), content...)
	return s.putNode(path, func(n *node) {
		n.data, n.size, n.hash = data, int64(len(data)), contenthash.Of(data)
	})
}

// PutLargeFile adds or overwrites the file at path with size bytes of
// generated content (see Generated): nothing is stored, reads compute the
// bytes, so a multi-gigabyte file costs no memory.
func (s *Server) PutLargeFile(path string, size int64) Metadata {
	g := NewGenerated(path, size)
	hash := g.ContentHash()
	return s.putNode(path, func(n *node) {
		n.gen, n.size, n.hash = g, g.Size(), hash
	})
}

func (s *Server) putNode(path string, fill func(*node)) Metadata {
	if !strings.HasPrefix(path, "/") || malformed(path) {
		panic(fmt.Sprintf("dropbox emulator: PutFile: %q is not an absolute, well-formed path", path))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if blocked := s.st.ensureFolders(path, false, s.newID); blocked != "" {
		panic(fmt.Sprintf("dropbox emulator: PutFile(%q): %s is a file", path, blocked))
	}
	now := s.now().UTC().Truncate(time.Second)
	n := &node{display: s.st.displayFor(path), rev: s.newRev(), clientModified: now, serverModified: now}
	n.lower = strings.ToLower(n.display)
	if old := s.st.nodes[n.lower]; old != nil && !old.folder {
		n.id = old.id
	} else {
		if old != nil {
			s.st.remove(old.lower)
		}
		n.id = s.newID()
	}
	fill(n)
	s.st.put(n)
	return metadataOf(n)
}

// DeleteFile deletes the file or folder (with its contents) at path, as a
// Dropbox user would; it reports whether there was one.
func (s *Server) DeleteFile(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.st.remove(strings.ToLower(path)) != nil
}

// Move moves the file or folder at from to to, keeping ids; listings report
// the old path deleted and the new one added. It reports false when from is
// missing, to is taken, or a file is in the way.
func (s *Server) Move(from, to string) bool {
	if !strings.HasPrefix(to, "/") || malformed(to) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.nodes[strings.ToLower(to)] != nil || under(strings.ToLower(to), strings.ToLower(from)) {
		return false
	}
	return s.st.move(strings.ToLower(from), to, s.newID)
}

// ExpireCursors invalidates every cursor handed out so far: continue
// answers 409 reset and the client must list again.
func (s *Server) ExpireCursors() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.epoch++
}

// Files lists every file, ordered by path.
func (s *Server) Files() []Metadata {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Metadata
	for _, n := range s.st.nodes {
		if !n.folder {
			out = append(out, metadataOf(n))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PathLower < out[j].PathLower })
	return out
}

// Stat returns the metadata of the file or folder at path.
func (s *Server) Stat(path string) (Metadata, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.st.resolve(path)
	if n == nil {
		return Metadata{}, false
	}
	return metadataOf(n), true
}

// Content returns a stored file's bytes (nil for a missing or generated
// file).
func (s *Server) Content(path string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.st.resolve(path)
	if n == nil || n.folder || n.gen != nil {
		return nil
	}
	return append([]byte(nil), n.data...)
}

// Fault is an injected failure for the next matching requests.
type Fault struct {
	// Route matches when it is a substring of the route ("files/download",
	// "list_folder"); empty matches every route.
	Route string
	// Status is the answer's status (default 500). 429 comes with
	// Retry-After and the JSON body.
	Status int
	// Times is how many matching requests fail (default 1).
	Times int
	// Garbage answers an HTML page instead of the route's body, with
	// Status (which may be 200).
	Garbage bool
	// LoseFile applies to files/download only: the file is deleted just
	// before it is served, so the download answers 409 path/not_found
	// although the listing showed it.
	LoseFile bool
}

type faultState struct {
	mu   sync.Mutex
	list []*pendingFault
}

type pendingFault struct {
	Fault
	left int
}

// InjectFault arms f; faults are matched in the order they were injected.
func (s *Server) InjectFault(f Fault) {
	if f.Times <= 0 {
		f.Times = 1
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.list = append(s.faults.list, &pendingFault{Fault: f, left: f.Times})
}

// take consumes a fault matching route: LoseFile ones when lose, others
// otherwise.
func (fs *faultState) take(route string, lose bool) (Fault, bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, f := range fs.list {
		if f.LoseFile != lose || !strings.Contains(route, f.Route) {
			continue
		}
		f.left--
		if f.left <= 0 {
			fs.list = append(fs.list[:i], fs.list[i+1:]...)
		}
		return f.Fault, true
	}
	return Fault{}, false
}

const garbagePage = `<!DOCTYPE html>
<html><head><title>Dropbox - Error</title></head>
<body><h1>Error (%d)</h1><p>Something went wrong. Don't worry, your files are still safe and the Dropboxers have been notified.</p></body></html>
`

func (s *Server) writeFault(w http.ResponseWriter, f Fault) {
	status := f.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	switch {
	case f.Garbage:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprintf(w, garbagePage, status)
	case status == http.StatusTooManyRequests:
		s.writeAPIError(w, tooManyRequests(s.opts.RetryAfter))
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(status)
		fmt.Fprint(w, http.StatusText(status))
	}
}
