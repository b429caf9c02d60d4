package runtime

import (
	"errors"
	"os"
	"strings"

	"github.com/jobmediator/jobmediator/config"
)

// FixAdaptor is the fix CheckProject gives a job whose adaptor cannot be
// loaded; the loader reports the same problem at the adaptor line, so
// callers that show both may drop these.
const FixAdaptor = "use an adaptor and version Job Mediator implements"

// Locate turns a position in a job's source into a position a user can
// open, and the source line there: the job file for `expression: file://…`
// and `body: {path}` jobs, the project file for inline bodies (the column
// then counts the block's indentation), with the field naming the job.
func Locate(projectPath string, j *config.Job, line, column int) (file string, fileLine, col int, field, source string) {
	field = j.Field() + ".body"
	if j.Field() == "" {
		field = "job " + j.Key
	}
	bodyLine := config.SourceLine(j.Body, line)
	switch {
	case j.BodyPath != "":
		return j.BodyPath, line, column, "job " + j.Key, bodyLine
	case j.BodyLine > 0:
		fileLine = j.BodyLine + line - 1
		if raw, err := os.ReadFile(projectPath); err == nil {
			if pl := config.SourceLine(string(raw), fileLine); bodyLine != "" && strings.HasSuffix(pl, bodyLine) {
				indent := len([]rune(pl)) - len([]rune(bodyLine))
				if column > 0 {
					column += indent
				}
				return projectPath, fileLine, column, field, pl
			}
		}
		return projectPath, fileLine, column, field, bodyLine
	}
	return projectPath, j.Line, 0, field, ""
}

// CheckProject compiles every job of a project and reports failures as
// validation errors pointing at the job: the line in the project file (or
// the job file), its field and a fix, as `jobmediator check` prints them.
func (e *Engine) CheckProject(p *config.Project, def config.Compat) config.ValidationErrors {
	var out config.ValidationErrors
	for _, wf := range p.Workflows {
		for _, j := range wf.Jobs {
			err := e.Check(j, p.EffectiveCompat(wf, j, def))
			if err == nil {
				continue
			}
			field := j.Field() + ".body"
			if j.Field() == "" {
				field = "workflows." + wf.Key + ".jobs." + j.Key + ".body"
			}
			ve := config.ValidationError{File: p.Path, Line: j.Line, Field: field, Message: err.Error(),
				Fix: "correct the job source"}
			var re *Error
			if errors.As(err, &re) && re.Name == "ImportError" {
				ve.Fix = FixAdaptor
			}
			if errors.As(err, &re) && re.Line > 0 {
				ve.File, ve.Line, ve.Column, ve.Field, ve.Source = Locate(p.Path, j, re.Line, re.Column)
				ve.Message = strings.TrimPrefix(ve.Message, "job "+j.Key+": ")
			}
			out = append(out, ve)
		}
	}
	return out
}
