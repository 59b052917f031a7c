package emulator

import (
	"fmt"
	"strings"
	"time"

	"github.com/synchub/synchub/connectors/dropbox/contenthash"
)

// seedKind is one kind of seeded file.
type seedKind struct {
	name string // base name, without extension
	ext  string
	make func(s *Server, rec RecordFolder) []byte
}

var seedKinds = []seedKind{
	{"Contract", ".pdf", seedPDF},
	{"Photo", ".jpg", seedJPEG},
	{"Notes", ".txt", seedText},
	{"Quote", ".pdf", seedPDF},
	{"Site visit", ".jpg", seedJPEG},
}

// seed creates the root folder and each record's folder with two or three
// files; s.mu need not be held (the server is not shared yet).
func (s *Server) seed() {
	s.st.ensureFolders(s.opts.Root, true, s.newID)
	base := s.now().UTC().Truncate(time.Second)
	for _, rec := range s.opts.Records {
		folder := fmt.Sprintf("%s/%s/%s_%s", s.opts.Root, rec.Entity, folderName(rec.Name), rec.ID)
		if s.st.ensureFolders(folder, true, s.newID) != "" {
			continue
		}
		n := 2 + s.rnd.IntN(2)
		first := s.rnd.IntN(len(seedKinds))
		for i := range n {
			k := seedKinds[(first+i)%len(seedKinds)]
			data := k.make(s, rec)
			when := base.Add(-time.Duration(1+s.rnd.IntN(90*24)) * time.Hour)
			f := &node{display: s.st.displayFor(folder + "/" + k.name + k.ext), id: s.newID(), rev: s.newRev(),
				size: int64(len(data)), data: data, hash: contenthash.Of(data),
				clientModified: when, serverModified: when.Add(time.Duration(s.rnd.IntN(60)) * time.Second)}
			f.lower = strings.ToLower(f.display)
			s.st.put(f)
		}
	}
}

// folderName makes a record name usable as a path component.
func folderName(name string) string {
	return strings.NewReplacer("/", "-", "\\", "-").Replace(strings.TrimSpace(name))
}

// noise returns n seeded bytes.
func (s *Server) noise(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(s.rnd.Uint32())
	}
	return b
}

func seedPDF(s *Server, rec RecordFolder) []byte {
	body := fmt.Sprintf("BT /F1 12 Tf 72 720 Td (%s %s: %s) Tj ET", rec.Entity, rec.ID, rec.Name)
	var b strings.Builder
	fmt.Fprintf(&b, "%%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n")
	fmt.Fprintf(&b, "2 0 obj << /Type /Pages /Kids [3 0 R] /Count 1 >> endobj\n")
	fmt.Fprintf(&b, "3 0 obj << /Type /Page /Parent 2 0 R /Contents 4 0 R >> endobj\n")
	fmt.Fprintf(&b, "4 0 obj << /Length %d >> stream\n%s\nendstream endobj\n", len(body), body)
	fmt.Fprintf(&b, "%% %x\ntrailer << /Root 1 0 R >>\n%%%%EOF\n", s.noise(64+s.rnd.IntN(512)))
	return []byte(b.String())
}

func seedJPEG(s *Server, _ RecordFolder) []byte {
	out := []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x48, 0x00, 0x48, 0x00, 0x00}
	out = append(out, s.noise(2048+s.rnd.IntN(16<<10))...)
	return append(out, 0xFF, 0xD9)
}

func seedText(s *Server, rec RecordFolder) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "Notes on %s %q (%s)\n\n", rec.Entity, rec.Name, rec.ID)
	for i := range 3 + s.rnd.IntN(5) {
		fmt.Fprintf(&b, "%d. Follow-up item %d, ref %x\n", i+1, s.rnd.IntN(1000), s.noise(4))
	}
	return []byte(b.String())
}
