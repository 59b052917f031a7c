package dynamicscrm

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/synchub/synchub/connectors/odata"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/filter"
	"github.com/synchub/synchub/sdk/httpx"
)

// entityMeta is what the connector knows of a table, from its metadata.
type entityMeta struct {
	logical, set, pk string
	tracking         bool
	attrs            map[string]*attrMeta
	order            []string // attribute names, sorted
	// full is rawRecord's plan for every column, made once.
	full atomic.Pointer[rawPlan]
}

// attrMeta is one column.
type attrMeta struct {
	name     string
	kind     string // AttributeType
	typ      sdk.FieldType
	targets  []string          // lookups: target tables
	navs     map[string]string // lookups: target table -> single-valued navigation property
	create   bool
	update   bool
	maxLen   int
	readOnly bool
}

// prop is the Web API property that holds the column: `_x_value` for a
// lookup.
func (a *attrMeta) prop() string {
	if a.typ == sdk.TypeLookup {
		return "_" + a.name + "_value"
	}
	return a.name
}

// nav is the navigation property that binds the lookup to a row of
// target, as the table's relationship metadata names it. Without that
// metadata: the column's name for a single-target lookup and for an owner
// (whose navigation property is typed principal), <name>_<target> for a
// customer or multi-table lookup (parentcustomerid_account, objectid_contact),
// which is how the platform names them.
func (a *attrMeta) nav(target string) string {
	if n := a.navs[target]; n != "" {
		return n
	}
	if len(a.targets) > 1 && a.kind != "Owner" {
		return a.name + "_" + target
	}
	return a.name
}

// attrTypes maps AttributeType to record field types. Types a record
// cannot carry (Virtual, images, files, party lists, ...) are left out.
var attrTypes = map[string]sdk.FieldType{
	"String": sdk.TypeString, "Memo": sdk.TypeText, "EntityName": sdk.TypeString,
	"Integer": sdk.TypeInt, "BigInt": sdk.TypeInt, "Picklist": sdk.TypeInt, "State": sdk.TypeInt, "Status": sdk.TypeInt,
	"Money": sdk.TypeDecimal, "Decimal": sdk.TypeDecimal, "Double": sdk.TypeDecimal,
	"Boolean": sdk.TypeBool, "DateTime": sdk.TypeDateTime,
	"Uniqueidentifier": sdk.TypeGUID, "UniqueIdentifier": sdk.TypeGUID,
	"Lookup": sdk.TypeLookup, "Owner": sdk.TypeLookup, "Customer": sdk.TypeLookup,
}

var logicalName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// entity returns a table's metadata, read once per Configure.
func (c *Connector) entity(ctx context.Context, logical string) (*entityMeta, error) {
	if c.http == nil {
		return nil, errNotConfigured
	}
	c.mu.Lock()
	m := c.meta[logical]
	c.mu.Unlock()
	if m != nil {
		return m, nil
	}
	unknown := &sdk.Error{Code: sdk.CodeUnknownEntity, Entity: logical,
		Summary: fmt.Sprintf("Dynamics CRM has no table with the logical name %q", logical)}
	if !logicalName.MatchString(logical) {
		return nil, unknown
	}
	var def struct {
		LogicalName           string
		EntitySetName         string
		PrimaryIDAttribute    string `json:"PrimaryIdAttribute"`
		ChangeTrackingEnabled bool
		Attributes            []struct {
			LogicalName           string
			AttributeType         string
			AttributeOf           *string
			IsValidForCreate      bool
			IsValidForUpdate      bool
			IsValidODataAttribute *bool
			Targets               []string
			MaxLength             int
			Format                *string
		}
	}
	u := fmt.Sprintf("%s/EntityDefinitions(LogicalName='%s')?$select=LogicalName,EntitySetName,PrimaryIdAttribute,ChangeTrackingEnabled&$expand=Attributes",
		c.api, logical)
	if err := c.http.GetJSON(ctx, u, &def); err != nil {
		// Only the Web API's own 404 (an OData error body) means "no such
		// table"; a gateway's 404 page means a wrong url or api_version.
		var se *httpx.StatusError
		if errors.As(err, &se) && se.StatusCode == http.StatusNotFound && odata.ParseError(se.StatusCode, se.Body).OData {
			return nil, unknown
		}
		return nil, c.callError("read the definition of table "+logical, err)
	}
	if def.EntitySetName == "" || def.PrimaryIDAttribute == "" {
		return nil, &sdk.Error{Code: sdk.CodeBadResponse, Entity: logical, Summary: "the table definition lacks its entity set or primary key"}
	}
	m = &entityMeta{logical: def.LogicalName, set: def.EntitySetName, pk: def.PrimaryIDAttribute,
		tracking: def.ChangeTrackingEnabled, attrs: map[string]*attrMeta{}}
	for _, a := range def.Attributes {
		if a.AttributeOf != nil || (a.IsValidODataAttribute != nil && !*a.IsValidODataAttribute) {
			continue // the "<lookup>name" and "yomi" shadows are not Web API properties
		}
		t, ok := attrTypes[a.AttributeType]
		if !ok {
			continue
		}
		if t == sdk.TypeDateTime && a.Format != nil && *a.Format == "DateOnly" {
			t = sdk.TypeDate
		}
		am := &attrMeta{name: a.LogicalName, kind: a.AttributeType, typ: t, targets: a.Targets,
			create: a.IsValidForCreate, update: a.IsValidForUpdate, maxLen: a.MaxLength}
		am.readOnly = !a.IsValidForCreate && !a.IsValidForUpdate
		m.attrs[am.name] = am
		m.order = append(m.order, am.name)
	}
	slices.Sort(m.order)
	if err := c.readNavigations(ctx, m); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.meta[logical] = m
	c.mu.Unlock()
	return m, nil
}

// readNavigations reads the lookups' navigation property names from the
// table's many-to-one relationships: custom lookups bind through their
// schema name (new_ParentProject), which no rule derives from the logical
// name. A service that does not serve the relationships (4xx) leaves the
// platform's naming rule of attrMeta.nav in place.
func (c *Connector) readNavigations(ctx context.Context, m *entityMeta) error {
	var rels struct {
		Value []struct {
			ReferencingAttribute                    string
			ReferencedEntity                        string
			ReferencingEntityNavigationPropertyName string
		} `json:"value"`
	}
	u := fmt.Sprintf("%s/EntityDefinitions(LogicalName='%s')/ManyToOneRelationships?$select=ReferencingAttribute,ReferencedEntity,ReferencingEntityNavigationPropertyName",
		c.api, m.logical)
	if err := c.http.GetJSON(ctx, u, &rels); err != nil {
		var se *httpx.StatusError
		if errors.As(err, &se) && slices.Contains([]int{http.StatusBadRequest, http.StatusNotFound, http.StatusMethodNotAllowed, http.StatusNotImplemented}, se.StatusCode) {
			c.log.Debug("no relationship metadata; lookups bind by the naming rule", "entity", m.logical, "status", se.StatusCode)
			return nil
		}
		return c.callError("read the relationships of table "+m.logical, err)
	}
	for _, r := range rels.Value {
		a := m.attrs[r.ReferencingAttribute]
		if a == nil || a.typ != sdk.TypeLookup || r.ReferencingEntityNavigationPropertyName == "" {
			continue
		}
		if a.navs == nil {
			a.navs = map[string]string{}
		}
		a.navs[r.ReferencedEntity] = r.ReferencingEntityNavigationPropertyName
	}
	return nil
}

// Schema describes the requested tables from their metadata. A table with
// change tracking reports deletions inline (its incremental passes carry
// them); one without has no incremental feed and is reconciled by id.
func (c *Connector) Schema(ctx context.Context, req sdk.SchemaRequest) (sdk.Schema, error) {
	var s sdk.Schema
	for _, name := range req.Entities {
		m, err := c.entity(ctx, name)
		if err != nil {
			return sdk.Schema{}, err
		}
		es := sdk.EntitySchema{Name: name, Key: m.pk, Deletes: sdk.DeletesInline}
		if !m.tracking {
			es.Deletes = sdk.DeletesNone
		}
		if _, ok := m.attrs["versionnumber"]; ok {
			es.VersionField = "versionnumber"
		}
		if _, ok := m.attrs["modifiedon"]; ok {
			es.ModifiedField = "modifiedon"
		}
		for _, n := range m.order {
			a := m.attrs[n]
			es.Fields = append(es.Fields, sdk.Field{Name: a.name, Type: a.typ, Lookup: strings.Join(a.targets, ","),
				ReadOnly: a.readOnly || n == m.pk, MaxLength: a.maxLen})
		}
		s.Entities = append(s.Entities, es)
	}
	return s, nil
}

// field returns a column by the name a config uses, or an unknown-field
// error that helps when the name is the Web API's `_x_value` form.
func (m *entityMeta) field(name string) (*attrMeta, error) {
	if a, ok := m.attrs[name]; ok {
		return a, nil
	}
	e := &sdk.Error{Code: sdk.CodeUnknownField, Entity: m.logical, Field: name,
		Summary: fmt.Sprintf("Dynamics CRM table %s has no column %q", m.logical, name)}
	if inner, ok := strings.CutPrefix(name, "_"); ok {
		if base, ok := strings.CutSuffix(inner, "_value"); ok && m.attrs[base] != nil {
			e.Detail = fmt.Sprintf("lookups are named by their logical name: use %q", base)
		}
	}
	return nil, e
}

// project lists the properties to $select for fields (empty: every
// column): the key, the fields (lookups as `_x_value`) and modifiedon.
func (m *entityMeta) project(fields []string) ([]string, error) {
	if len(fields) == 0 {
		fields = m.order
	}
	props := []string{m.pk}
	for _, f := range fields {
		a, err := m.field(f)
		if err != nil {
			return nil, err
		}
		if p := a.prop(); !slices.Contains(props, p) {
			props = append(props, p)
		}
	}
	if _, ok := m.attrs["modifiedon"]; ok && !slices.Contains(props, "modifiedon") {
		props = append(props, "modifiedon")
	}
	return props, nil
}

// filter translates a filter for this table, checking its fields first.
func (m *entityMeta) filter(e filter.Expr) (string, error) {
	for _, f := range filter.Fields(e) {
		first, _, _ := strings.Cut(f, "/")
		if _, err := m.field(first); err != nil {
			return "", err
		}
	}
	s, err := odata.Filter(e, m.dialect())
	if err != nil {
		return "", &sdk.Error{Code: sdk.CodeInvalidRequest, Entity: m.logical, Summary: "cannot translate the filter for the Web API", Detail: err.Error()}
	}
	return s, nil
}

// dialect is the Web API's: no `in`, lookups filtered on `_x_value`.
func (m *entityMeta) dialect() odata.Dialect {
	return odata.Dialect{NoIn: true, Property: func(f string) string {
		if a, ok := m.attrs[f]; ok {
			return a.prop()
		}
		return f
	}}
}
