package config

import (
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	ctyjson "github.com/zclconf/go-cty/cty/json"
)

// decoder evaluates attributes one at a time and collects every problem as
// a diagnostic instead of stopping at the first.
type decoder struct {
	ctx     *hcl.EvalContext
	baseDir string
	diags   hcl.Diagnostics
}

func (d *decoder) errorf(subject hcl.Range, summary, format string, args ...any) {
	d.diags = append(d.diags, &hcl.Diagnostic{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   fmt.Sprintf(format, args...),
		Subject:  subject.Ptr(),
	})
}

// evaluated is an attribute's value, unmarked, known and not null.
type evaluated struct {
	attr *hcl.Attribute
	val  cty.Value
	// secret is set when any part of the value came from env() or file().
	secret bool
}

// rng is where value errors point: the expression.
func (e evaluated) rng() hcl.Range { return e.attr.Expr.Range() }

// show quotes s for a message unless it came from env() or file().
func (e evaluated) show(s string) string {
	if e.secret {
		return "the value (read by env() or file(), not shown)"
	}
	return strconv.Quote(s)
}

// shown is s when it may appear in a message, and "" (no suggestions
// either) when it came from env() or file().
func shown(ev evaluated, s string) string {
	if ev.secret {
		return ""
	}
	return s
}

// eval evaluates attrs[name]. ok is false when the attribute is absent or
// null (both mean "use the default") or when it failed, in which case the
// failure is already recorded.
func (d *decoder) eval(attrs hcl.Attributes, name string) (evaluated, bool) {
	attr, present := attrs[name]
	if !present {
		return evaluated{}, false
	}
	val, diags := attr.Expr.Value(d.ctx)
	d.diags = append(d.diags, diags...)
	if diags.HasErrors() {
		return evaluated{}, false
	}
	val, marks := val.UnmarkDeep()
	ev := evaluated{attr: attr, val: val, secret: len(marks) > 0}
	if !val.IsWhollyKnown() {
		d.errorf(ev.rng(), "Invalid value", "%s must be known when the config loads.", name)
		return evaluated{}, false
	}
	if val.IsNull() {
		return evaluated{}, false
	}
	return ev, true
}

// convertTo converts ev to want, recording a type error naming the attribute.
func (d *decoder) convertTo(ev evaluated, want cty.Type, wantName string) (cty.Value, bool) {
	v, err := convert.Convert(ev.val, want)
	if err != nil {
		d.errorf(ev.rng(), "Wrong type", "%s must be %s; %s.", ev.attr.Name, wantName, err)
		return cty.NilVal, false
	}
	return v, true
}

func (d *decoder) str(attrs hcl.Attributes, name string) (string, evaluated, bool) {
	ev, ok := d.eval(attrs, name)
	if !ok {
		return "", ev, false
	}
	v, ok := d.convertTo(ev, cty.String, "a string")
	if !ok {
		return "", ev, false
	}
	return v.AsString(), ev, true
}

// enum sets *dst when the attribute is present and one of allowed.
func (d *decoder) enum(attrs hcl.Attributes, name, summary string, allowed []string, dst *string) {
	s, ev, ok := d.str(attrs, name)
	if !ok {
		return
	}
	for _, a := range allowed {
		if s == a {
			*dst = s
			return
		}
	}
	d.errorf(ev.rng(), summary, "%s is not a valid %s: %s", ev.show(s), name, oneOf(shown(ev, s), allowed))
}

func (d *decoder) duration(attrs hcl.Attributes, name string, allowZero bool, dst *time.Duration) {
	s, ev, ok := d.str(attrs, name)
	if !ok {
		return
	}
	v, err := parseDuration(s)
	if err != nil {
		d.errorf(ev.rng(), "Invalid duration", "%s is not a valid %s: %s.", ev.show(s), name, err)
		return
	}
	if v == 0 && !allowZero {
		d.errorf(ev.rng(), "Invalid duration", "%s must be longer than zero.", name)
		return
	}
	*dst = v
}

func (d *decoder) size(attrs hcl.Attributes, name string, allowZero bool, dst *int64) {
	s, ev, ok := d.str(attrs, name)
	if !ok {
		return
	}
	v, err := parseSize(s)
	if err != nil {
		d.errorf(ev.rng(), "Invalid size", "%s is not a valid %s: %s.", ev.show(s), name, err)
		return
	}
	if v == 0 && !allowZero {
		d.errorf(ev.rng(), "Invalid size", "%s must be larger than zero.", name)
		return
	}
	*dst = v
}

func (d *decoder) integer(attrs hcl.Attributes, name string, lo, hi int, dst *int) {
	ev, ok := d.eval(attrs, name)
	if !ok {
		return
	}
	v, ok := d.convertTo(ev, cty.Number, "a whole number")
	if !ok {
		return
	}
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		d.errorf(ev.rng(), "Wrong type", "%s must be a whole number.", name)
		return
	}
	if bf.Cmp(big.NewFloat(float64(lo))) < 0 || bf.Cmp(big.NewFloat(float64(hi))) > 0 {
		d.errorf(ev.rng(), "Value out of range", "%s must be from %d to %d.", name, lo, hi)
		return
	}
	n, _ := bf.Int64()
	*dst = int(n)
}

func (d *decoder) boolean(attrs hcl.Attributes, name string, dst *bool) {
	ev, ok := d.eval(attrs, name)
	if !ok {
		return
	}
	v, ok := d.convertTo(ev, cty.Bool, "true or false")
	if !ok {
		return
	}
	*dst = v.True()
}

// listItem is one string of a list attribute, with the range of its own
// expression when the list is written literally.
type listItem struct {
	s   string
	rng hcl.Range
	ev  evaluated
}

// strList returns a list of strings. ok is false when the attribute is
// absent, null or invalid.
func (d *decoder) strList(attrs hcl.Attributes, name string) ([]listItem, bool) {
	ev, ok := d.eval(attrs, name)
	if !ok {
		return nil, false
	}
	v, ok := d.convertTo(ev, cty.List(cty.String), "a list of strings")
	if !ok {
		return nil, false
	}
	ranges := elementRanges(ev.attr.Expr, v.LengthInt())
	items := make([]listItem, 0, v.LengthInt())
	valid := true
	for i, el := range v.AsValueSlice() {
		if el.IsNull() {
			d.errorf(ranges[i], "Invalid value", "%s must not contain null.", name)
			valid = false
			continue
		}
		items = append(items, listItem{s: el.AsString(), rng: ranges[i], ev: ev})
	}
	return items, valid
}

// elementRanges gives each of n elements its own range when expr is a
// literal list, and the whole expression's range otherwise.
func elementRanges(expr hcl.Expression, n int) []hcl.Range {
	ranges := make([]hcl.Range, n)
	exprs, diags := hcl.ExprList(expr)
	for i := range ranges {
		if !diags.HasErrors() && len(exprs) == n {
			ranges[i] = exprs[i].Range()
		} else {
			ranges[i] = expr.Range()
		}
	}
	return ranges
}

// mapItem is one entry of a map attribute with the range of its value
// expression when the map is written literally.
type mapItem struct {
	key, val string
	rng      hcl.Range
	ev       evaluated
}

// strMap returns a map of strings in key order.
func (d *decoder) strMap(attrs hcl.Attributes, name string) ([]mapItem, bool) {
	ev, ok := d.eval(attrs, name)
	if !ok {
		return nil, false
	}
	v, ok := d.convertTo(ev, cty.Map(cty.String), "an object of strings")
	if !ok {
		return nil, false
	}
	ranges := map[string]hcl.Range{}
	if pairs, diags := hcl.ExprMap(ev.attr.Expr); !diags.HasErrors() {
		for _, p := range pairs {
			k, diags := p.Key.Value(d.ctx)
			if diags.HasErrors() || !k.IsKnown() || k.IsNull() || !k.Type().Equals(cty.String) {
				continue
			}
			k, _ = k.Unmark()
			ranges[k.AsString()] = p.Value.Range()
		}
	}
	var items []mapItem
	valid := true
	for k, el := range v.AsValueMap() {
		rng, found := ranges[k]
		if !found {
			rng = ev.rng()
		}
		if el.IsNull() {
			d.errorf(rng, "Invalid value", "%s.%s must not be null.", name, k)
			valid = false
			continue
		}
		items = append(items, mapItem{key: k, val: el.AsString(), rng: rng, ev: ev})
	}
	slices.SortFunc(items, func(a, b mapItem) int { return strings.Compare(a.key, b.key) })
	return items, valid
}

// object returns an object or map attribute as a plain JSON object.
func (d *decoder) object(attrs hcl.Attributes, name string) (json.RawMessage, bool) {
	ev, ok := d.eval(attrs, name)
	if !ok {
		return nil, false
	}
	t := ev.val.Type()
	if !t.IsObjectType() && !t.IsMapType() {
		d.errorf(ev.rng(), "Wrong type", "%s must be an object, as in { url = \"https://...\" }, not %s.", name, t.FriendlyName())
		return nil, false
	}
	b, err := ctyjson.Marshal(ev.val, t)
	if err != nil {
		d.errorf(ev.rng(), "Invalid value", "%s cannot be converted to JSON: %s.", name, err)
		return nil, false
	}
	return b, true
}
