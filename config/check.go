package config

import (
	"errors"
	"fmt"
	"io"
)

// CheckResult is what `jobmediator check` reports.
type CheckResult struct {
	Project     *Project // nil when the project could not be read at all
	Credentials Credentials
	Errors      ValidationErrors
	Warnings    ValidationErrors
}

// OK reports whether there is no error (warnings allowed).
func (r CheckResult) OK() bool { return len(r.Errors) == 0 }

// Check validates everything a deployment needs: settings (envErrs are the
// errors SettingsFromEnv returned), the project with its jobmediator.yaml,
// the credentials file, and that every credential a job uses has values
// somewhere. validateAdaptor (may be nil) is the adaptor registry check.
func Check(s Settings, envErrs []error, validateAdaptor func(spec string) error) CheckResult {
	var r CheckResult
	for _, e := range append(append([]error(nil), envErrs...), s.Validate()...) {
		r.Errors = append(r.Errors, asValidationError(e, "settings"))
	}
	var inline map[string]map[string]any
	if s.ProjectPath != "" {
		p, err := LoadProjectWith(s.ProjectPath, LoadOptions{OptionsPath: s.OptionsPath, ValidateAdaptor: validateAdaptor})
		r.Project = p
		if err != nil {
			r.Errors = append(r.Errors, flatten(err, s.ProjectPath)...)
		}
		if p != nil {
			r.Warnings = append(r.Warnings, p.Warnings...)
			inline = p.InlineCredentials()
		}
	}
	haveFile := false
	if s.CredentialsPath != "" {
		c, err := LoadCredentials(s.CredentialsPath)
		if err != nil {
			r.Errors = append(r.Errors, flatten(err, s.CredentialsPath)...)
		} else {
			r.Credentials, haveFile = c, true
		}
	}
	if r.Project == nil {
		return r
	}
	// Every credential used by a job needs values from somewhere. The
	// OpenHIM console can still supply them at run time, hence warnings.
	reported := map[string]bool{}
	for _, w := range r.Project.Workflows {
		for _, j := range w.Jobs {
			key := j.Credential
			if key == "" || reported[key] {
				continue
			}
			if _, ok := inline[key]; ok {
				continue
			}
			if _, ok := r.Credentials.Get(key); ok {
				continue
			}
			reported[key] = true
			where := ValidationError{File: r.Project.Path, Line: j.Line, Field: join(j.field, "credential")}
			if haveFile {
				where.Message = fmt.Sprintf("credential %q has no values in %s", key, s.CredentialsPath)
				where.Fix = fmt.Sprintf("add `%s: {field: value, …}` to the credentials file, or set it in the OpenHIM console", key)
			} else {
				where.Message = fmt.Sprintf("credential %q has no values: no credentials file is set", key)
				where.Fix = "pass --credentials PATH (JM_CREDENTIALS), or set the values in the OpenHIM console"
			}
			r.Warnings = append(r.Warnings, where)
		}
	}
	all := NewCredentials(inline).Merge(r.Credentials.Map())
	r.Errors = append(r.Errors, CheckSecurityCredentials(r.Project, all)...)
	errs, warns := checkCredentialFields(r.Project, credentialUses(r.Project, r.Credentials, s.CredentialsPath, inline))
	r.Errors = append(r.Errors, errs...)
	r.Warnings = append(r.Warnings, warns...)
	return r
}

// credentialUses gathers, per credential key and per inline step
// configuration, the values a job gets and the jobs that get them.
func credentialUses(p *Project, file Credentials, filePath string, inline map[string]map[string]any) []credentialUse {
	var out []credentialUse
	byKey := map[string]int{}
	for _, w := range p.Workflows {
		for _, j := range w.Jobs {
			if j.Configuration != nil {
				out = append(out, credentialUse{key: join(j.field, "configuration"), values: j.Configuration, file: p.Path, line: j.Line, jobs: []*Job{j}})
			}
			if j.Credential == "" {
				continue
			}
			if i, ok := byKey[j.Credential]; ok {
				out[i].jobs = append(out[i].jobs, j)
				continue
			}
			u := credentialUse{key: j.Credential, jobs: []*Job{j}}
			if v, ok := file.Get(j.Credential); ok {
				u.values, u.file, u.line = v, filePath, file.Line(j.Credential)
			} else if v, ok := inline[j.Credential]; ok {
				u.values, u.file = v, p.Path
			} else {
				continue // "has no values" was reported above
			}
			byKey[j.Credential] = len(out)
			out = append(out, u)
		}
	}
	return out
}

func asValidationError(e error, file string) ValidationError {
	var ve ValidationError
	if errors.As(e, &ve) {
		return ve
	}
	return ValidationError{File: file, Message: e.Error()}
}

func flatten(err error, file string) ValidationErrors {
	var ves ValidationErrors
	if errors.As(err, &ves) {
		return ves
	}
	return ValidationErrors{asValidationError(err, file)}
}

// Write prints every error and warning, one per line, and a summary.
func (r CheckResult) Write(w io.Writer) error {
	if err := r.Errors.Write(w, "error: "); err != nil {
		return err
	}
	if err := r.Warnings.Write(w, "warning: "); err != nil {
		return err
	}
	summary := fmt.Sprintf("%d error(s), %d warning(s)", len(r.Errors), len(r.Warnings))
	if r.Project != nil && r.OK() {
		jobs := 0
		for _, wf := range r.Project.Workflows {
			jobs += len(wf.Jobs)
		}
		summary = fmt.Sprintf("%s: %s project, %d workflow(s), %d job(s); %s", r.Project.Path, r.Project.Format, len(r.Project.Workflows), jobs, summary)
	}
	_, err := fmt.Fprintln(w, summary)
	return err
}
