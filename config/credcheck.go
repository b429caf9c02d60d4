package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/jobmediator/jobmediator/spec"
)

// AdaptorName is the short name of an adaptor specifier
// ("@openfn/language-http@7.3.2" → "http"), or "" when it is not one.
func AdaptorName(specifier string) string {
	m := adaptorRE.FindStringSubmatch(strings.TrimSpace(specifier))
	if m == nil {
		return ""
	}
	return m[3]
}

// CredentialAdaptors lists the short names of the adaptors of the jobs that
// use a credential, sorted: the credential must satisfy each one's spec.
func (p *Project) CredentialAdaptors(key string) []string {
	set := map[string]bool{}
	for _, w := range p.Workflows {
		for _, j := range w.Jobs {
			if j.Credential == key {
				if n := AdaptorName(j.Adaptor); n != "" {
					set[n] = true
				}
			}
		}
	}
	return slices.Sorted(maps.Keys(set))
}

// credentialUse is one credential's values and the jobs that read them.
type credentialUse struct {
	key    string
	values map[string]any
	file   string // where the values are, for errors
	line   int
	jobs   []*Job
}

// checkCredentialFields holds each credential's values against the fields
// its jobs' adaptors declare (package spec): a value of the wrong type is an
// error; an unknown field (one no job's code names either), a missing
// required one or no complete set of auth fields is a warning, because a
// job may read extra fields itself and
// the OpenHIM console can still supply missing ones. Messages never quote a
// value.
func checkCredentialFields(p *Project, uses []credentialUse) (errs, warns ValidationErrors) {
	for _, u := range uses {
		var specs []spec.Credential
		open := false
		seen := map[string]bool{}
		for _, j := range u.jobs {
			name := AdaptorName(j.Adaptor)
			c, ok := spec.Lookup(name)
			if !ok {
				open = true // no declaration (an unknown adaptor is reported elsewhere)
				continue
			}
			if !seen[name] {
				seen[name] = true
				specs = append(specs, c)
				open = open || c.Open
			}
		}
		fields := make([]string, 0, len(u.values))
		for f := range u.values {
			fields = append(fields, f)
		}
		sort.Strings(fields)
		for _, f := range fields {
			known := false
			for _, c := range specs {
				if fd, ok := c.Field(f); ok {
					known = true
					if why := spec.TypeError(fd.Type, u.values[f]); why != "" {
						errs = append(errs, ValidationError{File: u.file, Line: u.line, Field: join(u.key, f),
							Message: fmt.Sprintf("%s of credential %q %s (the %s adaptor reads it as %s)", f, u.key, why, c.Adaptor, fd.Type),
							Fix:     fmt.Sprintf("write %s as a %s", f, fd.Type)})
					}
					break
				}
			}
			if !known && !open && len(specs) > 0 && !jobsMention(u.jobs, f) {
				var names, adaptorNames []string
				for _, c := range specs {
					names = append(names, c.Names()...)
					adaptorNames = append(adaptorNames, c.Adaptor)
				}
				fix := fmt.Sprintf("remove it, unless the job reads state.configuration.%s itself", f)
				if s := didYouMean(f, names); s != "" {
					fix = fmt.Sprintf("did you mean %q? otherwise %s", s, fix)
				}
				warns = append(warns, ValidationError{File: u.file, Line: u.line, Field: join(u.key, f),
					Message: fmt.Sprintf("credential %q has field %s, which the %s adaptor does not read", u.key, f, strings.Join(adaptorNames, " and ")),
					Fix:     fix})
			}
		}
		j := u.jobs[0]
		where := func(msg, fix string) {
			warns = append(warns, ValidationError{File: p.Path, Line: j.Line, Field: join(j.field, "credential"), Message: msg, Fix: fix})
		}
		fix := "add it to the credentials file, or set it in the OpenHIM console"
		for _, c := range specs {
			var missing []string
			for _, fd := range c.Fields {
				if fd.Required && !hasField(u.values, fd) {
					missing = append(missing, fd.Name)
				}
			}
			if len(missing) > 0 {
				where(fmt.Sprintf("credential %q lacks %s, which the %s adaptor needs", u.key, strings.Join(missing, ", "), c.Adaptor), fix)
			}
			if len(c.AnyOf) > 0 && !anyGroupComplete(u.values, c) {
				var gs []string
				for _, g := range c.AnyOf {
					gs = append(gs, strings.Join(g, " + "))
				}
				where(fmt.Sprintf("credential %q has none of %s, one of which the %s adaptor needs", u.key, strings.Join(gs, " or "), c.Adaptor), fix)
			}
		}
	}
	return errs, warns
}

func hasField(values map[string]any, fd spec.Field) bool {
	for _, n := range append([]string{fd.Name}, fd.Aliases...) {
		if v, ok := values[n]; ok && v != nil && v != "" {
			return true
		}
	}
	return false
}

func anyGroupComplete(values map[string]any, c spec.Credential) bool {
	for _, g := range c.AnyOf {
		complete := true
		for _, n := range g {
			fd, _ := c.Field(n)
			complete = complete && hasField(values, fd)
		}
		if complete {
			return true
		}
	}
	return false
}

// jobsMention reports whether a job's code names field f: then the job
// reads it from state.configuration itself, and it is not unknown.
func jobsMention(jobs []*Job, f string) bool {
	re, err := regexp.Compile(`\b` + regexp.QuoteMeta(f) + `\b`)
	if err != nil {
		return false
	}
	for _, j := range jobs {
		if re.MatchString(j.Body) {
			return true
		}
	}
	return false
}
