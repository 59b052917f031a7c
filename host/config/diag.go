package config

import (
	"cmp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
)

// DiagError is the error Load and Parse return for a config that does not
// load: every problem found, each an hcl.Diagnostic whose Subject points at
// the offending text. Error renders one problem per line as
//
//	configs/dev.hcl:12,5-9: Invalid conflict policy; "serverwins" is not one of ...
//
// Callers that want the structured form use errors.As.
type DiagError struct {
	// Diagnostics holds the errors in file order. Warnings are never included.
	Diagnostics hcl.Diagnostics
}

// Error renders every diagnostic on its own line as
// "file:line,col-col: Summary; Detail", without colour or source snippets,
// so values read through env() or file() can never leak into logs.
func (e *DiagError) Error() string {
	var b strings.Builder
	for i, d := range e.Diagnostics {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(formatDiagnostic(d))
	}
	return b.String()
}

func formatDiagnostic(d *hcl.Diagnostic) string {
	var b strings.Builder
	if d.Subject != nil {
		b.WriteString(d.Subject.String())
		b.WriteString(": ")
	}
	b.WriteString(oneLine(d.Summary))
	if d.Detail != "" {
		b.WriteString("; ")
		b.WriteString(oneLine(d.Detail))
	}
	return b.String()
}

// oneLine keeps the one-problem-per-line promise for details written by
// others (HCL, function errors) that may wrap.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// ErrorAt returns a *DiagError with one error at rng, for packages that
// check parts of the config later (filters, plugin binaries, schemas) and
// must point the admin at the same place in the same format as Load does.
func ErrorAt(rng hcl.Range, summary, detail string) error {
	return &DiagError{Diagnostics: hcl.Diagnostics{{
		Severity: hcl.DiagError,
		Summary:  summary,
		Detail:   detail,
		Subject:  rng.Ptr(),
	}}}
}

// NewDiagError returns a *DiagError holding the errors among diags sorted
// by position, or nil when diags holds no errors. Packages that collect
// several problems use it to report them all at once.
func NewDiagError(diags hcl.Diagnostics) error {
	var errs hcl.Diagnostics
	for _, d := range diags {
		if d.Severity == hcl.DiagError {
			errs = append(errs, d)
		}
	}
	if len(errs) == 0 {
		return nil
	}
	slices.SortStableFunc(errs, func(a, b *hcl.Diagnostic) int {
		switch {
		case a.Subject == nil && b.Subject == nil:
			return 0
		case a.Subject == nil:
			return -1
		case b.Subject == nil:
			return 1
		}
		return cmp.Or(
			cmp.Compare(a.Subject.Filename, b.Subject.Filename),
			cmp.Compare(a.Subject.Start.Byte, b.Subject.Start.Byte),
		)
	})
	return &DiagError{Diagnostics: errs}
}
