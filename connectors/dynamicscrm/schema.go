package dynamicscrm

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/synchub/synchub/connectors/odata"
	"github.com/synchub/synchub/sdk"
	"github.com/synchub/synchub/sdk/httpx"
)

// entityMeta is what the connector knows of a table from its metadata.
type entityMeta struct {
	logical, set, pk string
	tracking         bool
	attrs            map[string]*attrMeta
	order            []string
}

// attrMeta is one column.
type attrMeta struct {
	name     string
	typ      sdk.FieldType
	targets  []string // lookups
	create   bool
	update   bool
	maxLen   int
	readOnly bool
}

// prop is the Web API property that holds the column.
func (a *attrMeta) prop() string {
	if a.typ == sdk.TypeLookup {
		return "_" + a.name + "_value"
	}
	return a.name
}

// nav is the single-valued navigation property that binds the lookup to a
// target table: the column's name, or <name>_<target> for a lookup that can
// point at several tables (customer, regarding).
func (a *attrMeta) nav(target string) string {
	if len(a.targets) > 1 {
		return a.name + "_" + target
	}
	return a.name
}

var attrTypes = map[string]sdk.FieldType{
	"String": sdk.TypeString, "Memo": sdk.TypeText, "Integer": sdk.TypeInt, "BigInt": sdk.TypeInt,
	"Money": sdk.TypeDecimal, "Decimal": sdk.TypeDecimal, "Double": sdk.TypeDecimal, "Boolean": sdk.TypeBool,
	"DateTime": sdk.TypeDateTime, "Uniqueidentifier": sdk.TypeGUID, "UniqueIdentifier": sdk.TypeGUID,
	"Lookup": sdk.TypeLookup, "Owner": sdk.TypeLookup, "Customer": sdk.TypeLookup,
	"Picklist": sdk.TypeInt, "State": sdk.TypeInt, "Status": sdk.TypeInt, "EntityName": sdk.TypeString,
}

// entity returns the metadata of a table, reading it once.
func (c *Connector) entity(ctx context.Context, logical string) (*entityMeta, error) {
	c.mu.Lock()
	m := c.meta[logical]
	c.mu.Unlock()
	if m != nil {
		return m, nil
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
		}
	}
	u := fmt.Sprintf("%s/EntityDefinitions(LogicalName='%s')?$select=LogicalName,EntitySetName,PrimaryIdAttribute,ChangeTrackingEnabled&$expand=Attributes",
		c.api, url.PathEscape(strings.ReplaceAll(logical, "'", "''")))
	if err := c.http.GetJSON(ctx, u, &def); err != nil {
		var se *httpx.StatusError
		if errors.As(err, &se) && se.StatusCode == 404 {
			return nil, &sdk.Error{Code: sdk.CodeUnknownEntity, Entity: logical, Summary: "Dynamics CRM has no such table"}
		}
		return nil, odata.SDKError("read the metadata of "+logical, err)
	}
	m = &entityMeta{logical: def.LogicalName, set: def.EntitySetName, pk: def.PrimaryIDAttribute,
		tracking: def.ChangeTrackingEnabled, attrs: map[string]*attrMeta{}}
	for _, a := range def.Attributes {
		if a.AttributeOf != nil || (a.IsValidODataAttribute != nil && !*a.IsValidODataAttribute) {
			continue
		}
		t, ok := attrTypes[a.AttributeType]
		if !ok {
			continue // types a record cannot carry (virtual, images, ...)
		}
		am := &attrMeta{name: a.LogicalName, typ: t, targets: a.Targets, create: a.IsValidForCreate,
			update: a.IsValidForUpdate, maxLen: a.MaxLength}
		am.readOnly = !a.IsValidForCreate && !a.IsValidForUpdate
		m.attrs[am.name] = am
		m.order = append(m.order, am.name)
	}
	sort.Strings(m.order)
	c.mu.Lock()
	c.meta[logical] = m
	c.mu.Unlock()
	return m, nil
}

// Schema describes the requested tables from their metadata.
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

// project lists the properties to $select for fields ("" = all).
func (m *entityMeta) project(fields []string) ([]string, error) {
	if len(fields) == 0 {
		fields = m.order
	}
	props := []string{m.pk}
	for _, f := range fields {
		a, ok := m.attrs[f]
		if !ok {
			return nil, &sdk.Error{Code: sdk.CodeUnknownField, Entity: m.logical, Field: f, Summary: "Dynamics CRM table has no such column"}
		}
		if f != m.pk {
			props = append(props, a.prop())
		}
	}
	if _, ok := m.attrs["modifiedon"]; ok && !contains(props, "modifiedon") {
		props = append(props, "modifiedon")
	}
	return props, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// dialect maps record fields to Web API properties in filters.
func (m *entityMeta) dialect() odata.Dialect {
	return odata.Dialect{NoIn: true, Property: func(f string) string {
		if a, ok := m.attrs[f]; ok {
			return a.prop()
		}
		return f
	}}
}
