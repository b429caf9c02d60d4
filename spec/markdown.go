package spec

import (
	"fmt"
	"strings"
)

// CredentialsMarkdown renders the credential reference
// (docs/reference-credentials.md) from the declarations.
func CredentialsMarkdown(cs []Credential) string {
	var b strings.Builder
	b.WriteString("# Reference: adaptor credentials\n\n")
	b.WriteString("<!-- Generated from each adaptor's spec.go by `go generate ./adaptors/all`; do not edit. -->\n\n")
	b.WriteString("A job's credential reaches it as `state.configuration`. These are the fields each adaptor\n")
	b.WriteString("reads. `jobmediator check` reports unknown fields (a job may still read them itself), missing\n")
	b.WriteString("required ones and values of the wrong type; secret fields are masked in logs, history and\n")
	b.WriteString("answers, and offered as password fields in the OpenHIM console.\n\n")
	for _, c := range cs {
		fmt.Fprintf(&b, "## %s\n\n%s\n\n", c.Adaptor, c.Doc)
		if len(c.Fields) == 0 {
			continue
		}
		b.WriteString("| field | type | required | secret | default | what it is |\n|---|---|---|---|---|---|\n")
		for _, f := range c.Fields {
			name := "`" + f.Name + "`"
			for _, a := range f.Aliases {
				name += " (or `" + a + "`)"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", name, f.Type, yes(f.Required), yes(f.Secret), f.Default, cell(f.Doc))
		}
		if len(c.AnyOf) > 0 {
			var gs []string
			for _, g := range c.AnyOf {
				gs = append(gs, "`"+strings.Join(g, "` + `")+"`")
			}
			fmt.Fprintf(&b, "\nAt least one of: %s.\n", strings.Join(gs, ", or "))
		}
		b.WriteString("\n")
	}
	return strings.TrimRight(b.String(), "\n") + "\n"
}

func yes(v bool) string {
	if v {
		return "yes"
	}
	return ""
}

// cell keeps a table cell on one line.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}
