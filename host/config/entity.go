package config

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// entityMeta keeps what parent checks need after every entity of a source
// is decoded.
type entityMeta struct {
	parents     []listItem
	parentsAttr hcl.Range
}

func (d *decoder) entity(b *hcl.Block, source string) (Entity, entityMeta) {
	e := Entity{
		Name:     b.Labels[0],
		Conflict: defaultPolicy,
		TieBreak: defaultPolicy,
		PageSize: defaultPageSize,
		Range:    b.DefRange,
	}
	var meta entityMeta
	if !validEntityName(e.Name) {
		d.errorf(b.LabelRanges[0], "Invalid entity name",
			"%q is not an entity name: it must not be empty, start or end with a space, or contain '/', '=' or control characters.", e.Name)
	}
	content, diags := b.Body.Content(entitySchema)
	d.diags = append(d.diags, diags...)
	attrs := content.Attributes

	if items, ok := d.strList(attrs, "fields"); ok {
		e.Fields = d.distinct(items, "field", e.Name)
	}
	if s, ev, ok := d.str(attrs, "filter"); ok {
		e.Filter, e.FilterRange = s, ev.rng()
	}

	before := len(d.diags)
	if s, ev, ok := d.str(attrs, "partition_by"); ok {
		if p, err := parsePartition(s); err != nil {
			d.errorf(ev.rng(), "Invalid partition rule", "%s is not a partition rule for entity %q: %s.", ev.show(s), e.Name, err)
		} else {
			e.Partition = p
			if !p.All && len(e.Fields) > 0 && !slices.Contains(e.Fields, p.Field) {
				d.errorf(ev.rng(), "Partition field not synced",
					"entity %q partitions by field %q, which is not in its fields; add it to fields (the hub needs it to place each record).", e.Name, p.Field)
			}
		}
	} else if len(d.diags) == before {
		d.errorf(b.DefRange, "Missing partition rule",
			`entity %q of source %q needs partition_by: "*" (every user sees every record), "owner:<field>" or "<attribute>:<field>". There is no default, so that no record reaches a user by accident.`, e.Name, source)
	}

	if items, ok := d.strList(attrs, "parents"); ok {
		meta.parents = items
		meta.parentsAttr = attrs["parents"].Expr.Range()
		e.Parents = d.distinct(items, "parent", e.Name)
	}
	d.enum(attrs, "conflict", "Invalid conflict policy", conflictPolicies, &e.Conflict)
	d.enum(attrs, "tie_break", "Invalid tie_break policy", tieBreakPolicies, &e.TieBreak)
	if items, ok := d.strMap(attrs, "field_owner"); ok {
		e.FieldOwner = make(map[string]string, len(items))
		for _, it := range items {
			switch {
			case !slices.Contains(fieldOwners, it.val):
				d.errorf(it.rng, "Invalid field owner", "%s is not a valid owner of field %q: %s", it.ev.show(it.val), it.key, oneOf(shown(it.ev, it.val), fieldOwners))
			case len(e.Fields) > 0 && !slices.Contains(e.Fields, it.key):
				d.errorf(it.rng, "Unknown field", "field_owner names field %q, which is not in the fields of entity %q.", it.key, e.Name)
			default:
				e.FieldOwner[it.key] = it.val
			}
		}
	}
	d.integer(attrs, "page_size", 1, maxPageSize, &e.PageSize)
	d.boolean(attrs, "read_only", &e.ReadOnly)

	for i, fb := range content.Blocks.OfType("files") {
		if i > 0 {
			d.errorf(fb.DefRange, "Duplicate files block", "entity %q already has a files block at %s.", e.Name, content.Blocks.OfType("files")[0].DefRange)
			continue
		}
		e.Files = d.files(fb)
	}
	return e, meta
}

// distinct returns the strings of a list, reporting empty and repeated
// entries.
func (d *decoder) distinct(items []listItem, what, entity string) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		switch {
		case strings.TrimSpace(it.s) == "":
			d.errorf(it.rng, "Empty "+what, "entity %q has an empty %s name.", entity, what)
		case slices.Contains(out, it.s):
			d.errorf(it.rng, "Duplicate "+what, "entity %q lists %s %q twice.", entity, what, it.s)
		default:
			out = append(out, it.s)
		}
	}
	return out
}

func (d *decoder) files(b *hcl.Block) *FileRule {
	f := &FileRule{Mode: defaultFileMode}
	content, diags := b.Body.Content(filesSchema)
	d.diags = append(d.diags, diags...)
	attrs := content.Attributes
	d.enum(attrs, "mode", "Invalid files mode", fileModes, &f.Mode)
	if items, ok := d.strList(attrs, "suffixes"); ok {
		for _, it := range items {
			s := strings.ToLower(strings.TrimSpace(it.s))
			if s != "" && !strings.HasPrefix(s, ".") {
				s = "." + s
			}
			switch {
			case s == "" || s == ".":
				d.errorf(it.rng, "Empty suffix", "suffixes must name file endings such as \".pdf\".")
			case slices.Contains(f.Suffixes, s):
				d.errorf(it.rng, "Duplicate suffix", "suffix %q is listed twice.", s)
			default:
				f.Suffixes = append(f.Suffixes, s)
			}
		}
	}
	d.size(attrs, "max_size", true, &f.MaxSize)
	d.size(attrs, "quota", true, &f.Quota)
	return f
}

// checkParents checks that parents name entities of the source and form no
// cycle, reporting each cycle once with its path.
func (d *decoder) checkParents(s *Source, metas []entityMeta) {
	index := make(map[string]int, len(s.Entities))
	names := make([]string, len(s.Entities))
	for i, e := range s.Entities {
		index[e.Name] = i
		names[i] = e.Name
	}
	edges := make([][]int, len(s.Entities))
	for i, m := range metas {
		for _, p := range m.parents {
			j, ok := index[p.s]
			if !ok {
				if strings.TrimSpace(p.s) != "" {
					d.errorf(p.rng, "Unknown parent entity", "entity %q names parent %q, which is not an entity of source %q%s",
						s.Entities[i].Name, p.s, s.Name, knownEntities(p.s, names))
				}
				continue
			}
			if !slices.Contains(edges[i], j) {
				edges[i] = append(edges[i], j)
			}
		}
	}

	// Depth-first search in declaration order: a back edge closes a cycle.
	const (
		unvisited = iota
		onStack
		done
	)
	state := make([]int, len(edges))
	var stack []int
	var visit func(int)
	visit = func(i int) {
		state[i] = onStack
		stack = append(stack, i)
		for _, j := range edges[i] {
			switch state[j] {
			case unvisited:
				visit(j)
			case onStack:
				start := 0
				for k, v := range stack {
					if v == j {
						start = k
					}
				}
				cycle := make([]string, 0, len(stack)-start+1)
				for _, v := range stack[start:] {
					cycle = append(cycle, names[v])
				}
				cycle = append(cycle, names[j])
				d.errorf(metas[j].parentsAttr, "Parent cycle",
					"parents of source %q form a cycle: %s (each entity lists the next as a parent); remove one of these parents.",
					s.Name, strings.Join(cycle, " -> "))
			}
		}
		stack = stack[:len(stack)-1]
		state[i] = done
	}
	for i := range edges {
		if state[i] == unvisited {
			visit(i)
		}
	}
}

func knownEntities(given string, names []string) string {
	if s := suggest(given, names); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return "."
}
