package emulator

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Seeded data is a pure function of Options.Seed: names, addresses and phone
// numbers come from small word lists, owners are spread over the human
// users, some accounts have a parent account, every contact points to its
// account, and each account carries notes with small attachments.

var (
	companyStems = []string{"Contoso", "Fabrikam", "Northwind", "Adventure Works", "Litware", "Tailspin", "Wingtip",
		"Proseware", "Alpine Ski House", "Coho Winery", "Fourth Coffee", "Humongous Insurance", "Lucerne Publishing",
		"Margie's Travel", "Trey Research", "Woodgrove Bank", "Blue Yonder Airlines", "City Power & Light",
		"Graphic Design Institute", "Wide World Importers", "Southridge Video", "VanArsdel", "Relecloud", "Bellows College"}
	companySuffixes = []string{"Ltd", "Inc", "GmbH", "SA", "Group", "Holdings", "Partners", "Solutions", "Systems", "Labs", "BV", "AB"}
	firstNames      = []string{"Yvonne", "Susanna", "Nancy", "Maria", "Jon", "Rene", "Paul", "Sidney", "Scott", "Thomas",
		"Patrick", "Eva", "Nuria", "Jorge", "Aiko", "Chen", "Fatima", "Lars", "Ingrid", "Mateo", "Priya", "Olga", "Kwame", "Lucía"}
	lastNames = []string{"McKay", "Stubberod", "Anderson", "Campbell", "Morris", "Valdes", "Cannon", "Higa", "Konersmann",
		"Andersen", "Sands", "Corets", "Gonzalez", "Escobar", "Tanaka", "Wei", "Haddad", "Nilsson", "Berg", "Rossi", "Iyer", "Petrova", "Mensah", "Ruiz"}
	cities = [][2]string{{"Seattle", "United States"}, {"Redmond", "United States"}, {"London", "United Kingdom"},
		{"Paris", "France"}, {"Lyon", "France"}, {"Berlin", "Germany"}, {"Munich", "Germany"}, {"Amsterdam", "Netherlands"},
		{"Madrid", "Spain"}, {"Milan", "Italy"}, {"Stockholm", "Sweden"}, {"Oslo", "Norway"}, {"Toronto", "Canada"},
		{"Sydney", "Australia"}, {"Tokyo", "Japan"}, {"São Paulo", "Brazil"}, {"Zürich", "Switzerland"}, {"Dublin", "Ireland"}}
	jobTitles = []string{"Purchasing Manager", "CEO", "CFO", "IT Director", "Sales Representative", "Office Manager",
		"Operations Lead", "Account Executive", "Procurement Specialist", "Head of Marketing"}
	products  = []string{"Coffee Machines", "Laptops", "Support Contract", "Office Furniture", "Cloud Licenses", "Printers", "Training"}
	noteTexts = []string{"Discussed renewal terms and pricing.", "Customer asked for a revised quote.",
		"Signed copy of the framework agreement attached.", "Follow up on the delivery delay next week.",
		"Meeting minutes from the quarterly business review."}
	lorem = strings.Fields("lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua ut enim ad minim veniam quis nostrud exercitation ullamco laboris nisi aliquip ex ea commodo consequat")
)

var seedEpoch = time.Date(2024, 1, 8, 9, 0, 0, 0, time.UTC).Unix()

type gen struct{ r *rand.Rand }

func newGen(seed int64, stream uint64) *gen {
	return &gen{rand.New(rand.NewPCG(uint64(seed), 0x5eedda7a^stream))}
}

func (g *gen) id() uuid.UUID {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], g.r.Uint64())
	binary.LittleEndian.PutUint64(b[8:], g.r.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return uuid.UUID(b)
}

func pick[T any](g *gen, list []T) T { return list[g.r.IntN(len(list))] }

func (g *gen) phone() string { return fmt.Sprintf("+1-555-%04d", g.r.IntN(10000)) }

func (g *gen) sentence(words int) string {
	w := make([]string, words)
	for i := range w {
		w[i] = pick(g, lorem)
	}
	s := strings.Join(w, " ")
	return strings.ToUpper(s[:1]) + s[1:] + "."
}

func slug(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// attachment returns a small text or PDF-looking document.
func (g *gen) attachment(n int) (name, mime string, data []byte) {
	if g.r.IntN(2) == 0 {
		text := fmt.Sprintf("Note %d\n%s\n%s\n", n, g.sentence(12), g.sentence(9))
		return fmt.Sprintf("notes-%04d.txt", n), "text/plain", []byte(text)
	}
	body := fmt.Sprintf("%%PDF-1.4\n%% synchub emulator\n1 0 obj << /Type /Catalog >> endobj\n%% %s\ntrailer << /Root 1 0 R >>\n%%%%EOF\n", g.sentence(10))
	return fmt.Sprintf("contract-%04d.pdf", n), "application/pdf", []byte(body)
}

// rowBuilder sets values by logical name.
type rowBuilder struct {
	t *table
	r *row
}

func (b rowBuilder) set(name string, v any) rowBuilder {
	b.r.vals[b.t.def.byName[name].idx] = v
	return b
}

func (s *Server) seed() {
	g := newGen(s.opts.Seed, 0)
	st := s.st
	bus, users := st.tables["businessunits"], st.tables["systemusers"]
	accounts, contacts := st.tables["accounts"], st.tables["contacts"]
	opps, notes := st.tables["opportunities"], st.tables["annotations"]
	at := func(i int) int64 { return seedEpoch + int64(i)*3600 }
	mk := func(t *table, id uuid.UUID, created int64) rowBuilder {
		r := &row{id: id, created: created, modified: created + int64(g.r.IntN(90*86400)), vals: make([]any, t.def.nvals)}
		return rowBuilder{t, r}
	}
	s.orgID = g.id()
	s.rootBU = g.id()
	root := mk(bus, s.rootBU, at(0)).set("name", slug(s.opts.TenantID))
	sales := mk(bus, g.id(), at(1)).set("name", "Sales").set("parentbusinessunitid", ref{s.rootBU, bus})
	st.save(nil, bus, root.r, false)
	st.save(nil, bus, sales.r, false)
	buOf := map[uuid.UUID]ref{}

	s.appUser = g.id()
	app := mk(users, s.appUser, at(2)).set("firstname", "#").set("lastname", "SyncHub Integration").
		set("fullname", "# SyncHub Integration").set("domainname", s.opts.ClientID+"@"+slug(s.opts.TenantID)+".onmicrosoft.com").
		set("businessunitid", ref{s.rootBU, bus}).set("isdisabled", false).
		set("applicationid", uuid.NewSHA1(metaNS, []byte("app:"+s.opts.ClientID)))
	st.save(nil, users, app.r, false)
	buOf[s.appUser] = ref{s.rootBU, bus}
	for i := range s.opts.Users {
		first, last := firstNames[i%len(firstNames)], lastNames[(i*7+3)%len(lastNames)]
		id := g.id()
		bu := ref{s.rootBU, bus}
		if i%2 == 1 {
			bu = ref{sales.r.id, bus}
		}
		u := mk(users, id, at(3+i)).set("firstname", first).set("lastname", last).set("fullname", first+" "+last).
			set("domainname", strings.ToLower(first+"."+last)+"@contoso.example").
			set("internalemailaddress", strings.ToLower(first+"."+last)+"@contoso.example").
			set("businessunitid", bu).set("isdisabled", false)
		st.save(nil, users, u.r, false)
		s.humans = append(s.humans, id)
		buOf[id] = bu
	}

	var accRows, contactRows, oppRows, noteRows []*row
	noteN := 0
	for i := range s.opts.Accounts {
		owner := s.humans[i%len(s.humans)]
		city := pick(g, cities)
		name := fmt.Sprintf("%s %s", pick(g, companyStems), pick(g, companySuffixes))
		if s.opts.Accounts > 40 {
			name = fmt.Sprintf("%s %d", name, i+1)
		}
		state := int64(0)
		if g.r.IntN(10) == 0 {
			state = 1
		}
		a := mk(accounts, g.id(), at(100+i)).set("name", name).set("accountnumber", fmt.Sprintf("ACC-%06d", i+1)).
			set("telephone1", g.phone()).set("emailaddress1", "info@"+slug(name)+".example").
			set("address1_city", city[0]).set("address1_country", city[1]).
			set("revenue", float64(g.r.IntN(50000))*1000).set("numberofemployees", int64(5+g.r.IntN(5000))).
			set("description", g.sentence(8+g.r.IntN(12))).set("statecode", state).set("statuscode", state+1).
			set("ownerid", ref{owner, users}).set("owningbusinessunit", buOf[owner])
		if i >= 5 && g.r.IntN(5) == 0 {
			a.set("parentaccountid", ref{accRows[g.r.IntN(len(accRows))].id, accounts})
		}
		accRows = append(accRows, a.r)
		for j := range s.opts.ContactsPerAccount {
			first, last := pick(g, firstNames), pick(g, lastNames)
			c := mk(contacts, g.id(), at(100+i)+int64(j+1)*60).set("firstname", first).set("lastname", last).
				set("fullname", first+" "+last).set("emailaddress1", strings.ToLower(first+"."+last)+"@"+slug(name)+".example").
				set("telephone1", g.phone()).set("jobtitle", pick(g, jobTitles)).set("address1_city", city[0]).
				set("parentcustomerid", ref{a.r.id, accounts}).set("statecode", int64(0)).set("statuscode", int64(1)).
				set("ownerid", ref{owner, users}).set("owningbusinessunit", buOf[owner])
			if j == 0 {
				a.set("primarycontactid", ref{c.r.id, contacts})
			}
			contactRows = append(contactRows, c.r)
		}
		if g.r.IntN(2) == 0 {
			oppState := int64(g.r.IntN(3))
			o := mk(opps, g.id(), at(100+i)+3600).set("name", name+" - "+pick(g, products)).
				set("estimatedvalue", float64(1+g.r.IntN(500))*250).set("description", g.sentence(10)).
				set("parentaccountid", ref{a.r.id, accounts}).set("statecode", oppState).set("statuscode", []int64{1, 3, 4}[oppState]).
				set("ownerid", ref{owner, users}).set("owningbusinessunit", buOf[owner])
			oppRows = append(oppRows, o.r)
		}
		for range s.opts.NotesPerAccount {
			noteN++
			fname, mime, data := g.attachment(noteN)
			n := mk(notes, g.id(), at(100+i)+7200).set("subject", pick(g, noteTexts)).set("notetext", g.sentence(15)).
				set("filename", fname).set("mimetype", mime).set("documentbody", base64.StdEncoding.EncodeToString(data)).
				set("filesize", int64(len(data))).set("isdocument", true).set("objectid", ref{a.r.id, accounts}).
				set("objecttypecode", "account").set("ownerid", ref{owner, users}).set("owningbusinessunit", buOf[owner])
			noteRows = append(noteRows, n.r)
		}
	}
	for _, group := range []struct {
		t    *table
		rows []*row
	}{{accounts, accRows}, {contacts, contactRows}, {opps, oppRows}, {notes, noteRows}} {
		for _, r := range group.rows {
			st.save(nil, group.t, r, false)
		}
	}
	// The catalogue, from a stream of its own so the other tables' rows stay
	// what they were before it existed.
	pg := newGen(s.opts.Seed, 1024)
	catalogue := st.tables["products"]
	for i, name := range products {
		r := &row{id: pg.id(), created: at(50 + i), vals: make([]any, catalogue.def.nvals)}
		r.modified = r.created
		rowBuilder{catalogue, r}.set("name", name).set("productnumber", fmt.Sprintf("PRD-%04d", i+1)).
			set("price", float64(50+pg.r.IntN(5000))).set("description", pg.sentence(10)).
			set("statecode", int64(0)).set("statuscode", int64(1))
		st.save(nil, catalogue, r, false)
	}
	for _, t := range st.list {
		t.normalize()
	}
}

// AddRecords bulk-creates n generated rows in entitySet (accounts,
// contacts, opportunities or annotations) for benchmarks. Rows are about
// 1 KB of JSON each; long texts share storage, so a million accounts stay
// within a few hundred MB. The inserts are change-tracked like any write.
func (s *Server) AddRecords(entitySet string, n int) {
	st := s.st
	st.mu.Lock()
	defer st.mu.Unlock()
	t := st.tables[entitySet]
	if t == nil || n <= 0 {
		return
	}
	g := newGen(s.opts.Seed, uint64(st.version))
	users, accounts := st.tables["systemusers"], st.tables["accounts"]
	owners := make([][2]any, len(s.humans))
	for i, h := range s.humans {
		owners[i] = [2]any{ref{h, users}, users.rows[h].vals[users.def.byName["businessunitid"].idx]}
	}
	descs := make([]any, 64)
	for i := range descs {
		descs[i] = g.sentence(70 + g.r.IntN(30))
	}
	var accIDs []uuid.UUID
	if t != accounts && t.def.logical != "businessunit" && t.def.logical != "systemuser" {
		accIDs = make([]uuid.UUID, 0, len(accounts.rows))
		for id := range accounts.rows {
			accIDs = append(accIDs, id)
		}
		slices.SortFunc(accIDs, cmpID)
		if len(accIDs) == 0 {
			return
		}
	}
	base := len(t.rows)
	now := s.now().Unix()
	col := func(name string) int { return t.def.byName[name].idx }
	for i := range n {
		r := &row{id: g.id(), created: now, modified: now, vals: make([]any, t.def.nvals)}
		k := base + i + 1
		if c := t.def.byName["ownerid"]; c != nil {
			o := owners[k%len(owners)]
			r.vals[c.idx], r.vals[col("owningbusinessunit")] = o[0], o[1]
		}
		switch t.def.logical {
		case "account":
			city := pick(g, cities)
			name := fmt.Sprintf("%s %s %d", pick(g, companyStems), pick(g, companySuffixes), k)
			r.vals[col("name")] = name
			r.vals[col("accountnumber")] = fmt.Sprintf("ACC-%07d", k)
			r.vals[col("telephone1")] = g.phone()
			r.vals[col("emailaddress1")] = fmt.Sprintf("info%d@%s.example", k, slug(city[0]))
			r.vals[col("address1_city")], r.vals[col("address1_country")] = city[0], city[1]
			r.vals[col("revenue")] = float64(g.r.IntN(50000)) * 1000
			r.vals[col("numberofemployees")] = int64(5 + g.r.IntN(5000))
			r.vals[col("description")] = descs[k%len(descs)]
			r.vals[col("statecode")], r.vals[col("statuscode")] = int64(0), int64(1)
		case "contact":
			first, last := pick(g, firstNames), pick(g, lastNames)
			r.vals[col("firstname")], r.vals[col("lastname")], r.vals[col("fullname")] = first, last, first+" "+last
			r.vals[col("emailaddress1")] = fmt.Sprintf("%s.%s%d@example.com", strings.ToLower(first), strings.ToLower(last), k)
			r.vals[col("telephone1")], r.vals[col("jobtitle")] = g.phone(), pick(g, jobTitles)
			r.vals[col("description")] = descs[k%len(descs)]
			r.vals[col("parentcustomerid")] = ref{accIDs[g.r.IntN(len(accIDs))], accounts}
			r.vals[col("statecode")], r.vals[col("statuscode")] = int64(0), int64(1)
		case "opportunity":
			r.vals[col("name")] = fmt.Sprintf("%s deal %d", pick(g, products), k)
			r.vals[col("estimatedvalue")] = float64(1+g.r.IntN(500)) * 250
			r.vals[col("description")] = descs[k%len(descs)]
			r.vals[col("parentaccountid")] = ref{accIDs[g.r.IntN(len(accIDs))], accounts}
			r.vals[col("statecode")], r.vals[col("statuscode")] = int64(0), int64(1)
		case "annotation":
			fname, mime, data := g.attachment(k)
			r.vals[col("subject")], r.vals[col("notetext")] = pick(g, noteTexts), descs[k%len(descs)]
			r.vals[col("filename")], r.vals[col("mimetype")] = fname, mime
			r.vals[col("documentbody")] = base64.StdEncoding.EncodeToString(data)
			r.vals[col("filesize")], r.vals[col("isdocument")] = int64(len(data)), true
			r.vals[col("objectid")] = ref{accIDs[g.r.IntN(len(accIDs))], accounts}
			r.vals[col("objecttypecode")] = "account"
		case "businessunit":
			r.vals[col("name")] = fmt.Sprintf("Business Unit %d", k)
			r.vals[col("parentbusinessunitid")] = ref{s.rootBU, t}
		case "systemuser":
			first, last := pick(g, firstNames), pick(g, lastNames)
			r.vals[col("firstname")], r.vals[col("lastname")], r.vals[col("fullname")] = first, last, first+" "+last
			r.vals[col("domainname")] = fmt.Sprintf("%s.%s%d@contoso.example", strings.ToLower(first), strings.ToLower(last), k)
			r.vals[col("businessunitid")] = ref{s.rootBU, st.tables["businessunits"]}
			r.vals[col("isdisabled")] = false
		}
		st.save(nil, t, r, true)
	}
}
