package emulator

import (
	"github.com/google/uuid"
)

// Attribute types as EntityDefinitions reports them in AttributeType.
const (
	tString     = "String"
	tMemo       = "Memo"
	tInteger    = "Integer"
	tBigInt     = "BigInt"
	tMoney      = "Money"
	tDecimal    = "Decimal"
	tBoolean    = "Boolean"
	tDateTime   = "DateTime"
	tLookup     = "Lookup"
	tOwner      = "Owner"
	tCustomer   = "Customer"
	tUniqueID   = "Uniqueidentifier"
	tPicklist   = "Picklist"
	tState      = "State"
	tStatus     = "Status"
	tEntityName = "EntityName"
)

// sysKind marks columns kept in the row header instead of row.vals.
type sysKind uint8

const (
	sysNone sysKind = iota
	sysID
	sysCreated
	sysModified
	sysVersion
)

type option struct {
	value int
	label string
}

// column is one attribute of a table.
type column struct {
	name        string // logical name, e.g. "ownerid"
	prop        string // Web API property, e.g. "_ownerid_value"; "" for metadata-only attributes
	typ         string
	maxLen      int
	min, max    float64
	targets     []string          // lookup targets (logical names)
	navs        map[string]string // target logical name -> single-valued navigation property
	create      bool
	update      bool
	sys         sysKind
	idx         int // index into row.vals, -1 for system and virtual columns
	options     []option
	format      string
	attributeOf string
	required    string
	primaryName bool
	metaID      uuid.UUID
	label       string
}

func (c *column) isLookup() bool { return c.typ == tLookup || c.typ == tOwner || c.typ == tCustomer }

func (c *column) optionLabel(v int64) (string, bool) {
	for _, o := range c.options {
		if int64(o.value) == v {
			return o.label, true
		}
	}
	return "", false
}

// navRef resolves a single-valued navigation property used in @odata.bind.
type navRef struct {
	col    *column
	target string // logical name of the bound table
}

// entityDef describes one table: its names, keys and columns.
type entityDef struct {
	logical, set, pk, primaryName string
	display, displayPlural        string
	otc                           int
	ownership                     string
	metaID                        uuid.UUID
	cols                          []*column          // every attribute, metadata-only ones included
	byProp                        map[string]*column // Web API properties (queryable)
	byName                        map[string]*column // logical names
	navs                          map[string]navRef
	nvals                         int
	pkCol                         *column
}

var metaNS = uuid.MustParse("2f1c6c9e-9b7a-4f4e-8d55-6a1f3b0c9d21")

func newDef(logical, set, pk, primaryName, display, plural string, otc int, ownership string) *entityDef {
	d := &entityDef{
		logical: logical, set: set, pk: pk, primaryName: primaryName, display: display,
		displayPlural: plural, otc: otc, ownership: ownership,
		metaID: uuid.NewSHA1(metaNS, []byte("entity:"+logical)),
		byProp: map[string]*column{}, byName: map[string]*column{}, navs: map[string]navRef{},
	}
	if logical == "account" {
		d.metaID = uuid.MustParse("70816501-edb9-4740-a16c-6a5efbc05d84") // the well-known account MetadataId
	}
	d.add(&column{name: pk, typ: tUniqueID, create: true, sys: sysID, required: "SystemRequired", label: display})
	d.pkCol = d.byName[pk]
	return d
}

func (d *entityDef) add(cols ...*column) *entityDef {
	for _, c := range cols {
		c.metaID = uuid.NewSHA1(metaNS, []byte("attr:"+d.logical+"."+c.name))
		if c.required == "" {
			c.required = "None"
		}
		if c.label == "" {
			c.label = c.name
		}
		c.idx = -1
		if c.attributeOf == "" {
			c.prop = c.name
			if c.isLookup() {
				c.prop = "_" + c.name + "_value"
			}
			if c.sys == sysNone {
				c.idx = d.nvals
				d.nvals++
			}
			d.byProp[c.prop] = c
			for target, nav := range c.navs {
				d.navs[nav] = navRef{col: c, target: target}
			}
		}
		if c.name == d.primaryName {
			c.primaryName = true
		}
		d.cols = append(d.cols, c)
		d.byName[c.name] = c
		if c.isLookup() {
			// Lookups carry a read-only "<name>name" attribute in the metadata
			// (AttributeOf = the lookup) that is not a Web API property.
			v := &column{name: c.name + "name", typ: tString, maxLen: 100, attributeOf: c.name, label: c.label}
			v.metaID = uuid.NewSHA1(metaNS, []byte("attr:"+d.logical+"."+v.name))
			v.required, v.idx = "None", -1
			d.cols = append(d.cols, v)
			d.byName[v.name] = v
		}
	}
	return d
}

func (d *entityDef) system() *entityDef {
	return d.add(
		&column{name: "createdon", typ: tDateTime, sys: sysCreated, format: "DateAndTime", label: "Created On"},
		&column{name: "modifiedon", typ: tDateTime, sys: sysModified, format: "DateAndTime", label: "Modified On"},
		&column{name: "versionnumber", typ: tBigInt, sys: sysVersion, min: -9223372036854775808, max: 9223372036854775807, label: "Version Number"},
	)
}

func str(name string, maxLen int, format string) *column {
	return &column{name: name, typ: tString, maxLen: maxLen, create: true, update: true, format: format}
}

func memo(name string, maxLen int) *column {
	return &column{name: name, typ: tMemo, maxLen: maxLen, create: true, update: true, format: "TextArea"}
}

func lookup(typ, name string, navs map[string]string, targets ...string) *column {
	return &column{name: name, typ: typ, targets: targets, navs: navs, create: true, update: true}
}

func owner() *column {
	c := lookup(tOwner, "ownerid", map[string]string{"systemuser": "ownerid"}, "systemuser")
	c.required = "SystemRequired"
	c.label = "Owner"
	return c
}

func owningBU() *column {
	c := lookup(tLookup, "owningbusinessunit", map[string]string{"businessunit": "owningbusinessunit"}, "businessunit")
	c.create, c.update = false, false
	c.label = "Owning Business Unit"
	return c
}

func state(opts ...option) *column {
	return &column{name: "statecode", typ: tState, create: true, update: true, options: opts, label: "Status"}
}

func status(opts ...option) *column {
	return &column{name: "statuscode", typ: tStatus, create: true, update: true, options: opts, label: "Status Reason"}
}

func req(c *column, level string) *column { c.required = level; return c }

func readOnly(c *column) *column { c.create, c.update = false, false; return c }

// buildDefs returns the tables the emulator serves.
func buildDefs() []*entityDef {
	account := newDef("account", "accounts", "accountid", "name", "Account", "Accounts", 1, "UserOwned").add(
		req(str("name", 160, "Text"), "ApplicationRequired"),
		str("accountnumber", 20, "Text"),
		str("telephone1", 50, "Phone"),
		str("fax", 50, "Phone"),
		str("emailaddress1", 100, "Email"),
		str("address1_city", 80, "Text"),
		str("address1_country", 80, "Text"),
		&column{name: "revenue", typ: tMoney, min: 0, max: 100000000000000, create: true, update: true},
		&column{name: "numberofemployees", typ: tInteger, min: 0, max: 1000000000, create: true, update: true, format: "None"},
		memo("description", 2000),
		state(option{0, "Active"}, option{1, "Inactive"}),
		status(option{1, "Active"}, option{2, "Inactive"}),
		lookup(tLookup, "parentaccountid", map[string]string{"account": "parentaccountid"}, "account"),
		lookup(tLookup, "primarycontactid", map[string]string{"contact": "primarycontactid"}, "contact"),
		owner(), owningBU(),
	).system()

	contact := newDef("contact", "contacts", "contactid", "fullname", "Contact", "Contacts", 2, "UserOwned").add(
		str("firstname", 50, "Text"),
		req(str("lastname", 50, "Text"), "ApplicationRequired"),
		readOnly(str("fullname", 160, "Text")),
		str("emailaddress1", 100, "Email"),
		str("telephone1", 50, "Phone"),
		str("jobtitle", 100, "Text"),
		str("address1_city", 80, "Text"),
		memo("description", 2000),
		lookup(tCustomer, "parentcustomerid",
			map[string]string{"account": "parentcustomerid_account", "contact": "parentcustomerid_contact"}, "account", "contact"),
		state(option{0, "Active"}, option{1, "Inactive"}),
		status(option{1, "Active"}, option{2, "Inactive"}),
		owner(), owningBU(),
	).system()

	opportunity := newDef("opportunity", "opportunities", "opportunityid", "name", "Opportunity", "Opportunities", 3, "UserOwned").add(
		req(str("name", 300, "Text"), "ApplicationRequired"),
		&column{name: "estimatedvalue", typ: tMoney, min: -922337203685477, max: 922337203685477, create: true, update: true},
		memo("description", 2000),
		lookup(tLookup, "parentaccountid", map[string]string{"account": "parentaccountid"}, "account"),
		state(option{0, "Open"}, option{1, "Won"}, option{2, "Lost"}),
		status(option{1, "In Progress"}, option{2, "On Hold"}, option{3, "Won"}, option{4, "Canceled"}, option{5, "Out-Sold"}),
		owner(), owningBU(),
	).system()

	annotation := newDef("annotation", "annotations", "annotationid", "subject", "Note", "Notes", 5, "UserOwned").add(
		str("subject", 500, "Text"),
		memo("notetext", 100000),
		str("filename", 255, "Text"),
		str("mimetype", 256, "Text"),
		readOnly(&column{name: "filesize", typ: tInteger, min: 0, max: 1000000000, format: "None"}),
		memo("documentbody", 1073741823),
		&column{name: "isdocument", typ: tBoolean, create: true, update: true},
		lookup(tLookup, "objectid", map[string]string{
			"account": "objectid_account", "contact": "objectid_contact", "opportunity": "objectid_opportunity",
		}, "account", "contact", "opportunity"),
		&column{name: "objecttypecode", typ: tEntityName, create: true},
		owner(), owningBU(),
	).system()

	user := newDef("systemuser", "systemusers", "systemuserid", "fullname", "User", "Users", 8, "BusinessOwned").add(
		str("firstname", 64, "Text"),
		str("lastname", 64, "Text"),
		readOnly(str("fullname", 200, "Text")),
		req(str("domainname", 1024, "Text"), "SystemRequired"),
		str("internalemailaddress", 100, "Email"),
		req(lookup(tLookup, "businessunitid", map[string]string{"businessunit": "businessunitid"}, "businessunit"), "SystemRequired"),
		&column{name: "isdisabled", typ: tBoolean, create: true, update: true},
		&column{name: "applicationid", typ: tUniqueID, create: true, update: true},
	).system()

	bu := newDef("businessunit", "businessunits", "businessunitid", "name", "Business Unit", "Business Units", 10, "BusinessOwned").add(
		req(str("name", 160, "Text"), "SystemRequired"),
		lookup(tLookup, "parentbusinessunitid", map[string]string{"businessunit": "parentbusinessunitid"}, "businessunit"),
	).system()

	// The product catalogue: organisation owned (no owner), so every user
	// may read it.
	product := newDef("product", "products", "productid", "name", "Product", "Products", 1024, "OrganizationOwned").add(
		req(str("name", 100, "Text"), "ApplicationRequired"),
		req(str("productnumber", 100, "Text"), "ApplicationRequired"),
		&column{name: "price", typ: tMoney, min: 0, max: 100000000000000, create: true, update: true},
		memo("description", 2000),
		state(option{0, "Active"}, option{1, "Retired"}, option{2, "Draft"}, option{3, "Under Revision"}),
		status(option{0, "Draft"}, option{1, "Active"}, option{2, "Retired"}, option{3, "Under Revision"}),
	).system()

	return []*entityDef{account, contact, opportunity, annotation, user, bu, product}
}

// edmOf is the OData primitive type of a column's Web API property.
func edmOf(c *column) string {
	switch c.typ {
	case tString, tMemo, tEntityName:
		return "Edm.String"
	case tInteger, tPicklist, tState, tStatus:
		return "Edm.Int32"
	case tBigInt:
		return "Edm.Int64"
	case tMoney, tDecimal:
		return "Edm.Decimal"
	case tBoolean:
		return "Edm.Boolean"
	case tDateTime:
		return "Edm.DateTimeOffset"
	default:
		return "Edm.Guid"
	}
}
