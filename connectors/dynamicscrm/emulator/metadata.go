package emulator

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/google/uuid"
)

// EntityDefinitions: the table-definition API a connector reads its schema
// from. Expanding Attributes yields the properties common to
// AttributeMetadata; derived ones (Targets, MaxLength, …) are returned when
// no $select is given or when the collection is cast, e.g.
// EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.LookupAttributeMetadata?$select=LogicalName,Targets
// — selecting Targets on the base type fails like on the service.

func label(text string, id uuid.UUID) obj {
	l := obj{{"Label", text}, {"LanguageCode", 1033}, {"IsManaged", true}, {"MetadataId", id.String()}, {"HasChanged", nil}}
	return obj{{"LocalizedLabels", []obj{l}}, {"UserLocalizedLabel", l}}
}

func entityObj(d *entityDef) obj {
	id := d.metaID
	schema := strings.ToUpper(d.logical[:1]) + d.logical[1:]
	return obj{
		{"MetadataId", id.String()},
		{"LogicalName", d.logical},
		{"SchemaName", schema},
		{"EntitySetName", d.set},
		{"LogicalCollectionName", d.set},
		{"CollectionSchemaName", strings.ToUpper(d.set[:1]) + d.set[1:]},
		{"PrimaryIdAttribute", d.pk},
		{"PrimaryNameAttribute", d.primaryName},
		{"ObjectTypeCode", d.otc},
		{"OwnershipType", d.ownership},
		{"ChangeTrackingEnabled", true},
		{"IsOptimisticConcurrencyEnabled", true},
		{"IsCustomEntity", false},
		{"IsActivity", false},
		{"IsIntersect", false},
		{"IsManaged", true},
		{"IsValidForAdvancedFind", true},
		{"DisplayName", label(d.display, uuid.NewSHA1(id, []byte("display")))},
		{"DisplayCollectionName", label(d.displayPlural, uuid.NewSHA1(id, []byte("plural")))},
	}
}

var attrTypeNames = map[string]string{
	tString: "String", tMemo: "Memo", tInteger: "Integer", tBigInt: "BigInt", tMoney: "Money", tDecimal: "Decimal",
	tBoolean: "Boolean", tDateTime: "DateTime", tLookup: "Lookup", tOwner: "Lookup", tCustomer: "Lookup",
	tUniqueID: "UniqueIdentifier", tPicklist: "Picklist", tState: "State", tStatus: "Status", tEntityName: "EntityName",
}

func attrODataType(c *column) string {
	return "Microsoft.Dynamics.CRM." + attrTypeNames[c.typ] + "AttributeMetadata"
}

// attrBase is the AttributeMetadata part; attrDerived the type-specific part.
func attrBase(d *entityDef, c *column, n int) obj {
	return obj{
		{"MetadataId", c.metaID.String()},
		{"LogicalName", c.name},
		{"SchemaName", strings.ToUpper(c.name[:1]) + c.name[1:]},
		{"AttributeType", c.typ},
		{"AttributeTypeName", obj{{"Value", c.typ + "Type"}}},
		{"EntityLogicalName", d.logical},
		{"AttributeOf", nilIfEmpty(c.attributeOf)},
		{"ColumnNumber", n + 1},
		{"IsPrimaryId", c.sys == sysID},
		{"IsPrimaryName", c.primaryName},
		{"IsValidForCreate", c.create},
		{"IsValidForUpdate", c.update},
		{"IsValidForRead", true},
		{"IsValidODataAttribute", c.prop != ""},
		{"IsLogical", c.attributeOf != ""},
		{"IsCustomAttribute", false},
		{"IsManaged", true},
		{"RequiredLevel", obj{{"Value", c.required}, {"CanBeChanged", c.required != "SystemRequired"}, {"ManagedPropertyLogicalName", "canmodifyrequirementlevelsettings"}}},
		{"DisplayName", label(c.label, uuid.NewSHA1(c.metaID, []byte("display")))},
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func attrDerived(c *column) obj {
	switch c.typ {
	case tString:
		return obj{{"MaxLength", c.maxLen}, {"DatabaseLength", c.maxLen * 2}, {"Format", c.format}}
	case tMemo:
		return obj{{"MaxLength", c.maxLen}, {"Format", c.format}}
	case tInteger:
		return obj{{"MinValue", int64(c.min)}, {"MaxValue", int64(c.max)}, {"Format", c.format}}
	case tBigInt:
		return obj{{"MinValue", int64(c.min)}, {"MaxValue", int64(c.max)}}
	case tMoney, tDecimal:
		return obj{{"MinValue", c.min}, {"MaxValue", c.max}, {"Precision", 2}, {"PrecisionSource", 2}}
	case tLookup, tOwner, tCustomer:
		return obj{{"Targets", c.targets}, {"Format", nil}}
	case tDateTime:
		return obj{{"Format", c.format}, {"DateTimeBehavior", obj{{"Value", "UserLocal"}}}}
	case tBoolean:
		return obj{{"DefaultValue", false}}
	case tState, tStatus, tPicklist:
		return obj{{"DefaultFormValue", c.options[0].value}}
	}
	return nil
}

// metaSchema is the fschema of a metadata object: its primitive members.
type metaSchema struct {
	name  string
	props map[string]string
}

func (m metaSchema) propType(n string) (string, bool) { t, ok := m.props[n]; return t, ok }
func (m metaSchema) typeName() string                 { return "Microsoft.Dynamics.CRM." + m.name }

func schemaOf(name string, o obj) metaSchema {
	ms := metaSchema{name: name, props: map[string]string{}}
	for _, m := range o {
		switch m.v.(type) {
		case string:
			ms.props[m.k] = "Edm.String"
		case bool:
			ms.props[m.k] = "Edm.Boolean"
		case int, int64, float64:
			ms.props[m.k] = "Edm.Int32"
		}
	}
	if _, ok := ms.props["AttributeOf"]; !ok && name == "AttributeMetadata" {
		ms.props["AttributeOf"] = "Edm.String"
	}
	return ms
}

func objRecord(o obj) frecord {
	return func(p string) any {
		v, _ := o.get(p)
		switch x := v.(type) {
		case int:
			return float64(x)
		case int64:
			return float64(x)
		}
		return v
	}
}

// project keeps the selected members (MetadataId and annotations always).
func project(o obj, sel []string) obj {
	if sel == nil {
		return o
	}
	out := obj{}
	for _, m := range o {
		if strings.HasPrefix(m.k, "@") || m.k == "MetadataId" || slices.Contains(sel, m.k) {
			out = append(out, m)
		}
	}
	return out
}

type metaOpts struct {
	sel    []string
	filter fnode
}

// parseMetaOpts validates $select/$filter against a sample object.
func parseMetaOpts(typeName string, sample obj, selRaw, filterRaw string) (metaOpts, *apiError) {
	var mo metaOpts
	if selRaw != "" {
		mo.sel = []string{}
		for _, n := range strings.Split(selRaw, ",") {
			n = strings.TrimSpace(n)
			if _, ok := sample.get(n); !ok {
				return mo, newErr(http.StatusBadRequest, codeQuery, "Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.%s'.", n, typeName)
			}
			mo.sel = append(mo.sel, n)
		}
	}
	if filterRaw != "" {
		f, err := parseFilter(filterRaw, schemaOf(typeName, sample))
		if err != nil {
			return mo, err
		}
		mo.filter = f
	}
	return mo, nil
}

// parseExpand reads "Attributes" or "Attributes($select=…;$filter=…)".
func parseExpand(v string) (sel, filter string, err *apiError) {
	name, inner, hasOpts := strings.Cut(v, "(")
	if strings.TrimSpace(name) != "Attributes" {
		return "", "", newErr(http.StatusNotImplemented, codeQuery, "Expanding '%s' on EntityDefinitions is not supported by the emulator (only Attributes).", strings.TrimSpace(name))
	}
	if !hasOpts {
		return "", "", nil
	}
	inner = strings.TrimSuffix(strings.TrimSpace(inner), ")")
	for _, o := range strings.Split(inner, ";") {
		k, val, _ := strings.Cut(o, "=")
		switch strings.TrimSpace(k) {
		case "$select":
			sel = val
		case "$filter":
			filter = val
		default:
			return "", "", newErr(http.StatusBadRequest, codeQuery, "The query option '%s' is not supported in $expand.", k)
		}
	}
	return sel, filter, nil
}

func (s *Server) findEntity(key string) (*entityDef, *apiError) {
	name := key
	if k, v, ok := strings.Cut(key, "="); ok && strings.TrimSpace(k) == "LogicalName" {
		name = strings.Trim(v, "'")
	} else if id, err := uuid.Parse(key); err == nil {
		for _, d := range s.defs {
			if d.metaID == id {
				return d, nil
			}
		}
		return nil, newErr(http.StatusNotFound, codeNotExist, "Could not find entity with MetadataId '%s'.", key)
	} else {
		name = strings.Trim(key, "'")
	}
	for _, d := range s.defs {
		if d.logical == name {
			return d, nil
		}
	}
	return nil, newErr(http.StatusNotFound, codeNotExist, "Could not find entity with name '%s'.", name)
}

func (s *Server) serveMetadata(req *apiRequest, seg, rest string) (*apiResponse, *apiError) {
	if req.method != http.MethodGet {
		return nil, methodErr(req.method)
	}
	if err := checkOptions(req, "$select", "$filter", "$expand"); err != nil {
		return nil, err
	}
	var one *entityDef
	if key, ok := strings.CutPrefix(seg, "EntityDefinitions("); ok {
		d, err := s.findEntity(strings.TrimSuffix(key, ")"))
		if err != nil {
			return nil, err
		}
		one = d
	}
	if rest != "" {
		if one == nil {
			return nil, segmentErr(rest)
		}
		return s.serveAttributes(req, one, rest)
	}
	sample := entityObj(s.defs[0])
	mo, err := parseMetaOpts("EntityMetadata", sample, req.query.Get("$select"), req.query.Get("$filter"))
	if err != nil {
		return nil, err
	}
	expand := req.query.Get("$expand")
	var ao metaOpts
	if expand != "" {
		asel, afil, eerr := parseExpand(expand)
		if eerr != nil {
			return nil, eerr
		}
		if ao, err = parseMetaOpts("AttributeMetadata", attrBase(s.defs[0], s.defs[0].pkCol, 0), asel, afil); err != nil {
			return nil, err
		}
	}
	render := func(d *entityDef) obj {
		o := project(entityObj(d), mo.sel)
		if expand != "" {
			o = append(o, kv{"Attributes", s.attrList(d, ao, "")})
		}
		return o
	}
	ctxSel := slices.Clone(mo.sel)
	if expand != "" {
		ctxSel = append(ctxSel, "Attributes("+strings.Join(ao.sel, ",")+")")
	}
	ctxURL := req.api() + "/$metadata#EntityDefinitions"
	if len(ctxSel) > 0 {
		ctxURL += "(" + strings.Join(ctxSel, ",") + ")"
	}
	if one != nil {
		return jsonResponse(http.StatusOK, append(obj{{"@odata.context", ctxURL + "/$entity"}}, render(one)...)), nil
	}
	var list []obj
	for _, d := range s.defs {
		if matches(mo.filter, objRecord(entityObj(d))) {
			list = append(list, render(d))
		}
	}
	return jsonResponse(http.StatusOK, obj{{"@odata.context", ctxURL}, {"value", list}}), nil
}

// attrList renders d's attributes; cast limits them to one derived type and
// allows its members in $select.
func (s *Server) attrList(d *entityDef, mo metaOpts, cast string) []obj {
	out := []obj{}
	for i, c := range d.cols {
		if cast != "" && attrODataType(c) != cast {
			continue
		}
		base := attrBase(d, c, i)
		full := append(obj{{"@odata.type", "#" + attrODataType(c)}}, base...)
		full = append(full, attrDerived(c)...)
		if !matches(mo.filter, objRecord(full)) {
			continue
		}
		out = append(out, project(full, mo.sel))
	}
	return out
}

func (s *Server) serveAttributes(req *apiRequest, d *entityDef, rest string) (*apiResponse, *apiError) {
	head, cast, _ := strings.Cut(rest, "/")
	var key string
	if k, ok := strings.CutPrefix(head, "Attributes("); ok {
		key = strings.TrimSuffix(k, ")")
	} else if head != "Attributes" {
		return nil, segmentErr(head)
	}
	typeName := "AttributeMetadata"
	sample := attrBase(d, d.pkCol, 0)
	if cast != "" {
		known := false
		for _, c := range d.cols {
			if attrODataType(c) == cast {
				sample = append(append(obj{}, sample...), attrDerived(c)...)
				known = true
				break
			}
		}
		if !known {
			if !strings.HasPrefix(cast, "Microsoft.Dynamics.CRM.") || !strings.HasSuffix(cast, "AttributeMetadata") {
				return nil, segmentErr(cast)
			}
		}
		typeName = strings.TrimPrefix(cast, "Microsoft.Dynamics.CRM.")
	}
	mo, err := parseMetaOpts(typeName, sample, req.query.Get("$select"), req.query.Get("$filter"))
	if err != nil {
		return nil, err
	}
	list := s.attrList(d, mo, cast)
	ctxURL := fmt.Sprintf("%s/$metadata#EntityDefinitions(%s)/Attributes", req.api(), d.metaID)
	if cast != "" {
		ctxURL += "/" + cast
	}
	if len(mo.sel) > 0 {
		ctxURL += "(" + strings.Join(mo.sel, ",") + ")"
	}
	if key == "" {
		return jsonResponse(http.StatusOK, obj{{"@odata.context", ctxURL}, {"value", list}}), nil
	}
	name := strings.Trim(strings.TrimPrefix(key, "LogicalName="), "'")
	for _, a := range list {
		id, _ := a.get("MetadataId")
		ln, _ := a.get("LogicalName")
		if id == key || ln == name {
			return jsonResponse(http.StatusOK, append(obj{{"@odata.context", ctxURL + "/$entity"}}, a...)), nil
		}
	}
	return nil, newErr(http.StatusNotFound, codeNotExist, "Could not find attribute '%s' on entity '%s'.", name, d.logical)
}

// serveCSDL answers $metadata with a small CSDL document: entity types,
// keys, properties, single-valued navigation properties and entity sets
// annotated with change tracking.
func (s *Server) serveCSDL(req *apiRequest) (*apiResponse, *apiError) {
	if req.method != http.MethodGet {
		return nil, methodErr(req.method)
	}
	var b strings.Builder
	b.WriteString(`<?xml version="1.0" encoding="utf-8"?><edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>`)
	b.WriteString(`<Schema Namespace="Microsoft.Dynamics.CRM" Alias="mscrm" xmlns="http://docs.oasis-open.org/odata/ns/edm">`)
	for _, d := range s.defs {
		fmt.Fprintf(&b, `<EntityType Name="%s"><Key><PropertyRef Name="%s" /></Key>`, d.logical, d.pk)
		for _, c := range d.cols {
			if c.prop != "" {
				fmt.Fprintf(&b, `<Property Name="%s" Type="%s" />`, c.prop, edmOf(c))
			}
		}
		navs := make([]string, 0, len(d.navs))
		for n := range d.navs {
			navs = append(navs, n)
		}
		slices.Sort(navs)
		for _, n := range navs {
			fmt.Fprintf(&b, `<NavigationProperty Name="%s" Type="mscrm.%s" />`, n, d.navs[n].target)
		}
		b.WriteString(`</EntityType>`)
	}
	b.WriteString(`<EntityContainer Name="System">`)
	for _, d := range s.defs {
		fmt.Fprintf(&b, `<EntitySet Name="%s" EntityType="Microsoft.Dynamics.CRM.%s"><Annotation Term="Org.OData.Capabilities.V1.ChangeTracking"><Record><PropertyValue Property="Supported" Bool="true" /></Record></Annotation></EntitySet>`, d.set, d.logical)
	}
	b.WriteString(`</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>`)
	resp := newResponse(http.StatusOK)
	resp.header.Set("Content-Type", "application/xml")
	resp.body = []byte(b.String())
	return resp, nil
}
