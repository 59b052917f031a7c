// Package filter parses, evaluates and formats the subset of the OData v4
// $filter language that synchub speaks everywhere: in the REST API, in sync
// definitions and in the pull path.
//
// Parse turns text into a small, closed AST (*Logical, *Not, *Compare, *In,
// *Call, *Field, *Literal). Connectors walk that AST to push a filter down to
// their source (OData, SOQL, ...); Eval applies it to one record's fields when
// the source cannot; String prints it back as canonical OData text.
//
// The package must not know about HTTP, connectors, the host or any storage:
// it sees only filter text and a record as map[string]any, so every side of the
// plugin boundary can use it and fuzzing it needs nothing else.
//
// Grammar, lowest precedence first:
//
//	expr       = and *( "or" and )
//	and        = unary *( "and" unary )
//	unary      = "not" unary / comparison
//	comparison = operand [ cmpop operand / "in" "(" literal *( "," literal ) ")" ]
//	operand    = "(" expr ")" / func "(" args ")" / field / literal
//	cmpop      = "eq" / "ne" / "gt" / "ge" / "lt" / "le"
//	func       = "contains" / "startswith" / "endswith" / "tolower"
//
// Keywords are lowercase and case-sensitive, as in OData. "not" applies to the
// whole comparison that follows it: "not a eq 1" means "not (a eq 1)".
package filter
