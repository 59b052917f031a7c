package sdk

// SchemaRequest names the entities the admin configured.
type SchemaRequest struct {
	Entities []string
}

// Schema describes entities.
type Schema struct {
	Entities []EntitySchema `json:"entities"`
}

// Entity returns the named entity's schema.
func (s Schema) Entity(name string) (EntitySchema, bool) {
	for _, e := range s.Entities {
		if e.Name == name {
			return e, true
		}
	}
	return EntitySchema{}, false
}

// DeleteMode says how a connector learns of deletions of an entity.
type DeleteMode string

// The delete modes.
const (
	// DeletesInline: incremental pages carry deletions in Page.Deleted.
	DeletesInline DeleteMode = "inline"
	// DeletesFeed: the connector's DeleteTracker reports them.
	DeletesFeed DeleteMode = "feed"
	// DeletesNone: the host reconciles ids through IDLister.
	DeletesNone DeleteMode = "none"
)

// EntitySchema describes one entity.
type EntitySchema struct {
	Name string `json:"name"`
	// Key is the field that holds the record id.
	Key    string  `json:"key"`
	Fields []Field `json:"fields"`
	// VersionField and ModifiedField name the fields that carry the version
	// and the modified time ("" when the back end has none).
	VersionField  string     `json:"version_field,omitempty"`
	ModifiedField string     `json:"modified_field,omitempty"`
	ReadOnly      bool       `json:"read_only,omitempty"`
	Deletes       DeleteMode `json:"deletes"`
}

// Field returns the named field.
func (e EntitySchema) Field(name string) (Field, bool) {
	for _, f := range e.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// FieldType is a field's value type.
type FieldType string

// The field types. JSON values: string, text, guid, datetime (RFC 3339) and
// date (YYYY-MM-DD) are strings; int and decimal numbers; bool booleans;
// lookup an object {"entity": "...", "id": "..."} or null; json anything.
const (
	TypeString   FieldType = "string"
	TypeText     FieldType = "text"
	TypeInt      FieldType = "int"
	TypeDecimal  FieldType = "decimal"
	TypeBool     FieldType = "bool"
	TypeDateTime FieldType = "datetime"
	TypeDate     FieldType = "date"
	TypeGUID     FieldType = "guid"
	TypeLookup   FieldType = "lookup"
	TypeJSON     FieldType = "json"
)

// Field describes one field.
type Field struct {
	Name string    `json:"name"`
	Type FieldType `json:"type"`
	// Lookup names the target entity (or entities, comma-separated) of a lookup.
	Lookup    string `json:"lookup,omitempty"`
	ReadOnly  bool   `json:"read_only,omitempty"`
	Required  bool   `json:"required,omitempty"`
	MaxLength int    `json:"max_length,omitempty"`
}
