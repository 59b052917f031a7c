package client

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"regexp"
	"slices"
	"sync"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// Sources returns the hub's sources as last synced, in the hub's order.
func (c *Client) Sources(ctx context.Context) ([]string, error) {
	names, err := c.sources(ctx)
	return slices.Clone(names), err
}

// sources is Sources without the copy: the caller must not change it.
func (c *Client) sources(ctx context.Context) ([]string, error) {
	gen, names, ok := c.schema.cachedSources()
	if ok {
		return names, nil
	}
	if err := c.db.WithContext(ctx).Model(&sourceRow{}).Order("position, name").Pluck("name", &names).Error; err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	c.schema.keepSources(gen, names)
	return names, nil
}

// DefaultSource is the first source the hub lists.
func (c *Client) DefaultSource(ctx context.Context) (string, error) {
	names, err := c.Sources(ctx)
	if err != nil {
		return "", err
	}
	if len(names) == 0 {
		return "", fmt.Errorf("%w: no sources known yet; run a sync first", ErrNoSchema)
	}
	return names[0], nil
}

// source returns source, or the default one when it is empty, checking it
// is known.
func (c *Client) source(ctx context.Context, source string) (string, error) {
	names, err := c.sources(ctx)
	if err != nil {
		return "", err
	}
	if len(names) == 0 {
		return "", fmt.Errorf("%w: no sources known yet; run a sync first", ErrNoSchema)
	}
	if source == "" {
		return names[0], nil
	}
	if !slices.Contains(names, source) {
		return "", fmt.Errorf("unknown source '%s'; sources: %s: %w", source, joinNames(names), ErrNotFound)
	}
	return source, nil
}

// Schema returns a source's entities as last synced.
func (c *Client) Schema(ctx context.Context, source string) ([]EntitySchema, error) {
	source, err := c.source(ctx, source)
	if err != nil {
		return nil, err
	}
	all, err := c.loadSchema(ctx, c.db.WithContext(ctx), source)
	if err != nil {
		return nil, err
	}
	out := make([]EntitySchema, len(all))
	for i, e := range all {
		out[i] = e.clone()
	}
	return out, nil
}

// loadSchema reads a source's schema, from memory once read: the caller
// must not change what it returns (Schema and Entity hand out copies).
func (c *Client) loadSchema(_ context.Context, tx *gorm.DB, source string) ([]EntitySchema, error) {
	gen, all, ok := c.schema.cachedEntities(source)
	if ok {
		return all, nil
	}
	var rows []entityRow
	if err := tx.Where("source = ?", source).Order("position, name").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read schema of %s: %w", source, err)
	}
	out := make([]EntitySchema, 0, len(rows))
	for _, r := range rows {
		e := EntitySchema{Name: r.Name, Key: r.Key, ReadOnly: r.ReadOnly, Hash: r.Hash}
		if err := json.Unmarshal([]byte(r.Fields), &e.Fields); err != nil {
			return nil, fmt.Errorf("read schema of %s/%s: %w", source, r.Name, err)
		}
		out = append(out, e)
	}
	c.schema.keepEntities(gen, source, out)
	return out, nil
}

// Entity returns one entity's schema; an unknown name gives an
// *EntityError listing the entities that exist.
func (c *Client) Entity(ctx context.Context, source, entity string) (EntitySchema, error) {
	source, err := c.source(ctx, source)
	if err != nil {
		return EntitySchema{}, err
	}
	e, err := c.entity(ctx, c.db.WithContext(ctx), source, entity)
	return e.clone(), err
}

func (c *Client) entity(ctx context.Context, tx *gorm.DB, source, entity string) (EntitySchema, error) {
	all, err := c.loadSchema(ctx, tx, source)
	if err != nil {
		return EntitySchema{}, err
	}
	if len(all) == 0 {
		return EntitySchema{}, fmt.Errorf("%w: schema of %s not known yet; run a sync first", ErrNoSchema, source)
	}
	names := make([]string, 0, len(all))
	for _, e := range all {
		if e.Name == entity {
			return e, nil
		}
		names = append(names, e.Name)
	}
	return EntitySchema{}, &EntityError{Source: source, Entity: entity, Entities: names}
}

// schemaCache keeps the source list and each source's schema in memory:
// every local edit reads them, and only a sync or a new login writes
// them. A writer calls forget once its transaction has ended, committed
// or not; a reader keeps what it read only when no forget came since it
// looked (gen), so a read that raced a write, or saw a write that was
// then rolled back, is never kept. It relies on one Client owning its
// store (Options.Path).
type schemaCache struct {
	mu       sync.Mutex
	gen      uint64
	sources  []string // nil: not read since the last forget
	entities map[string][]EntitySchema
}

func (s *schemaCache) cachedSources() (gen uint64, names []string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gen, s.sources, s.sources != nil
}

func (s *schemaCache) keepSources(gen uint64, names []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen == s.gen {
		s.sources = append(make([]string, 0, len(names)), names...)
	}
}

func (s *schemaCache) cachedEntities(source string) (gen uint64, all []EntitySchema, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	all, ok = s.entities[source]
	return s.gen, all, ok
}

func (s *schemaCache) keepEntities(gen uint64, source string, all []EntitySchema) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if gen != s.gen {
		return
	}
	if s.entities == nil {
		s.entities = make(map[string][]EntitySchema)
	}
	s.entities[source] = all
}

// forget drops everything kept: the store's sources or schemas may have
// changed.
func (s *schemaCache) forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	s.sources, s.entities = nil, nil
}

// clone copies the slices of e, so that a caller may change them.
func (e EntitySchema) clone() EntitySchema {
	e.Fields = slices.Clone(e.Fields)
	e.Lookups = slices.Clone(e.Lookups)
	return e
}

// saveSources records the hub's source list. Sources it no longer lists
// are forgotten unless they hold pending changes.
func saveSources(tx *gorm.DB, names []string) error {
	for i, n := range names {
		if err := tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "name"}},
			DoUpdates: clause.AssignmentColumns([]string{"position"}),
		}).Create(&sourceRow{Name: n, Position: i}).Error; err != nil {
			return fmt.Errorf("save source %s: %w", n, err)
		}
	}
	var known []string
	if err := tx.Model(&sourceRow{}).Pluck("name", &known).Error; err != nil {
		return err
	}
	for _, k := range known {
		if slices.Contains(names, k) {
			continue
		}
		var pending int64
		if err := tx.Model(&changeRow{}).Where("source = ?", k).Count(&pending).Error; err != nil {
			return err
		}
		if pending > 0 {
			continue
		}
		for _, m := range []any{&recordRow{}, &shadowRow{}, &entityRow{}, &syncErrorRow{}, &fileRow{}} {
			if err := tx.Where("source = ?", k).Delete(m).Error; err != nil {
				return err
			}
		}
		if err := tx.Where("name = ?", k).Delete(&sourceRow{}).Error; err != nil {
			return err
		}
	}
	return nil
}

// saveSchema replaces a source's stored schema and makes sure the lookup
// fields have indexes.
func saveSchema(tx *gorm.DB, source string, entities []EntitySchema) error {
	if err := tx.Where("source = ?", source).Delete(&entityRow{}).Error; err != nil {
		return fmt.Errorf("save schema of %s: %w", source, err)
	}
	for i, e := range entities {
		fields, err := json.Marshal(e.Fields)
		if err != nil {
			return fmt.Errorf("save schema of %s/%s: %w", source, e.Name, err)
		}
		row := entityRow{Source: source, Name: e.Name, Position: i, Key: e.Key, ReadOnly: e.ReadOnly, Hash: e.Hash, Fields: string(fields)}
		if err := tx.Create(&row).Error; err != nil {
			return fmt.Errorf("save schema of %s/%s: %w", source, e.Name, err)
		}
		for _, f := range e.Fields {
			if f.Type != "lookup" {
				continue
			}
			if err := ensureLookupIndex(tx, f.Name); err != nil {
				return fmt.Errorf("index lookup %s/%s.%s: %w", source, e.Name, f.Name, err)
			}
		}
	}
	return nil
}

var simpleName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// ensureLookupIndex indexes records by (source, entity, <field>.id), which
// serves re-keying a created parent and listing a parent's children. One
// index per lookup field name serves every entity that has the field.
// Names that are not plain identifiers get no index (they still work, by
// scan).
func ensureLookupIndex(tx *gorm.DB, field string) error {
	if !simpleName.MatchString(field) {
		return nil
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(field))
	name := fmt.Sprintf("idx_records_lookup_%s_%08x", field, h.Sum32())
	return tx.Exec(fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON records (source, entity, json_extract(fields, '$.%s.id'))`, name, field)).Error
}

// schemaChanges compares the stored schema with the hub's: entities whose
// hash differs or that are gone. New entities are not changes: the hub
// serves their partitions from the start under any checkpoint.
func schemaChanges(old, cur []EntitySchema) (changed []string) {
	byName := make(map[string]EntitySchema, len(cur))
	for _, e := range cur {
		byName[e.Name] = e
	}
	for _, o := range old {
		n, ok := byName[o.Name]
		if !ok || n.Hash != o.Hash {
			changed = append(changed, o.Name)
		}
	}
	return changed
}

func joinNames(names []string) string {
	out := ""
	for i, n := range names {
		if i > 0 {
			out += ", "
		}
		out += n
	}
	return out
}
