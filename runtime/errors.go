package runtime

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/dop251/goja"
)

// rejection carries a rejected promise's reason out of the event loop.
type rejection struct{ v goja.Value }

func (r *rejection) Error() string { return "promise rejected" }

// interrupt reasons passed to vm.Interrupt.
const (
	reasonTimeout   = "timeout"
	reasonCancelled = "cancelled"
)

// timeoutError says which deadline passed and whose fault it likely is. A
// call still waiting on an upstream is a transport timeout (ETIMEDOUT,
// transient: a retry may find the upstream faster); the job's own code
// running past the deadline is a broken job (a loop that never ends) and
// gets no code, so nobody retries it.
func timeoutError(step string, onIO bool) *Error {
	if onIO {
		return &Error{Name: "TimeoutError", Severity: "kill", Source: "runtime", Step: step, Code: "ETIMEDOUT",
			Message: "Job took longer than the timeout allowed and was killed while waiting on an external system"}
	}
	return &Error{Name: "TimeoutError", Severity: "kill", Source: "runtime", Step: step,
		Message: "Job took longer than the timeout allowed and was killed while running its own code (a loop that never ends, or a timer too long)"}
}

var reFrame = regexp.MustCompile(`at (?:(\S+) \()?([^\s()]+):(\d+):(\d+)`)

// classify turns whatever a step threw into a runtime Error (§2.3).
//
// opIdx is the index of the operation that was running (-1 while the job's
// top level and the operation factories were being evaluated): an error
// raised in adaptor code is an AdaptorError only while an operation runs.
func (s *slot) classify(err error, c *compiled, step string, opIdx int) *Error {
	var intr *goja.InterruptedError
	if errors.As(err, &intr) {
		if intr.Value() == reasonCancelled {
			return &Error{Name: "CancelledError", Severity: "kill", Source: "runtime", Step: step, Message: "the run was cancelled"}
		}
		return timeoutError(step, false) // the engine says whether an external call was cut off
	}
	var so *goja.StackOverflowError
	if errors.As(err, &so) {
		// Node throws a RangeError here, which OpenFn reports like any
		// other; goja's carries no message, only the stack.
		return &Error{Name: "RuntimeError", Severity: "fail", Subtype: "RangeError", Source: "runtime", Step: step,
			Message: "RangeError: Maximum call stack size exceeded"}
	}
	var ex *goja.Exception
	var rej *rejection
	var v goja.Value
	switch {
	case errors.As(err, &ex):
		v = ex.Value()
	case errors.As(err, &rej):
		v = rej.v
	default:
		if e, ok := err.(*Error); ok {
			return e
		}
		return &Error{Name: "RuntimeCrash", Severity: "crash", Source: "runtime", Step: step, Message: err.Error()}
	}
	e := s.classifyValue(v, c, step, opIdx)
	if e.Line == 0 && ex != nil && c != nil {
		for _, f := range ex.Stack() {
			if f.SrcName() == c.name {
				p := f.Position()
				e.Line, e.Column = c.mapBack(p.Line, p.Column)
				break
			}
		}
	}
	return e
}

func (s *slot) classifyValue(v goja.Value, c *compiled, step string, opIdx int) *Error {
	e := &Error{Source: "runtime", Step: step, Severity: "fail"}
	obj, isObj := v.(*goja.Object)
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) || !isObj {
		e.Name = "JobError"
		if v == nil {
			e.Message = "undefined"
		} else {
			e.Message = v.String()
		}
		return e
	}
	name, msg := str(obj.Get("name")), str(obj.Get("message"))
	stack := str(obj.Get("stack"))
	isError := obj.ClassName() == "Error" || stack != ""
	if !isError {
		e.Name = "JobError"
		if msg != "" { // throw { message, code }: the message is used
			e.Message = msg
			return e
		}
		b, _ := json.Marshal(obj.Export())
		e.Message = string(b)
		return e
	}
	e.Message = msg
	adaptorFrame := false
	for _, m := range reFrame.FindAllStringSubmatch(stack, -1) {
		file := m[2]
		if strings.HasPrefix(file, "adaptor:") && !adaptorFrame && e.Line == 0 {
			adaptorFrame = true
		}
		if c != nil && file == c.name && e.Line == 0 {
			l, _ := strconv.Atoi(m[3])
			col, _ := strconv.Atoi(m[4])
			e.Line, e.Column = c.mapBack(l, col)
		}
	}
	// Go host functions raise errors through env.Throw; their statusCode and
	// code properties decide Transient().
	if sc := obj.Get("statusCode"); sc != nil && !goja.IsUndefined(sc) {
		e.StatusCode = int(sc.ToInteger())
	}
	if cd := obj.Get("code"); cd != nil && !goja.IsUndefined(cd) && !goja.IsNull(cd) {
		e.Code = cd.String()
	}
	switch name {
	case "TypeError", "RangeError":
		e.Name, e.Subtype = "RuntimeError", name
		e.Message = name + ": " + nodeMessage(msg)
	case "ReferenceError", "SyntaxError", "InvalidOperationError":
		e.Name, e.Severity, e.Subtype = "RuntimeCrash", "crash", name
		e.Message = name + ": " + msg
		if f := str(obj.Get("fix")); f != "" {
			e.Details = map[string]any{"fix": f}
		}
	case "EvalError":
		e.Name, e.Severity = "SecurityError", "kill"
		e.Message = "Illegal eval statement detected"
	default:
		e.Name = "JobError"
	}
	if adaptorFrame && e.Severity == "fail" && opIdx >= 0 {
		e.Name, e.Subtype = "AdaptorError", ""
		if c != nil && opIdx < len(c.opNames) {
			e.Operation = c.opNames[opIdx]
		}
		e.Message = msg
		details := map[string]any{"message": msg}
		for _, k := range obj.Keys() {
			if k == "stack" {
				continue
			}
			if ev := obj.Get(k); ev != nil {
				if _, fn := goja.AssertFunction(ev); !fn {
					details[k] = ev.Export()
				}
			}
		}
		// keep only JSON-able details
		if b, err := json.Marshal(details); err == nil {
			var clean map[string]any
			_ = json.Unmarshal(b, &clean)
			e.Details = clean
		} else {
			e.Details = map[string]any{"message": msg}
		}
	}
	return e
}

var reReadProp = regexp.MustCompile(`^Cannot read property '(.*)' of (undefined|null)$`)

// nodeMessage rewrites goja's wording of common TypeErrors into V8's, so
// errors[stepId] matches what OpenFn (Node) records.
func nodeMessage(msg string) string {
	if m := reReadProp.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("Cannot read properties of %s (reading '%s')", m[2], m[1])
	}
	return msg
}

func str(v goja.Value) string {
	if v == nil || goja.IsUndefined(v) || goja.IsNull(v) {
		return ""
	}
	return v.String()
}

func tooLarge(step, what string, n, limit int) *Error {
	return &Error{Name: "StateTooLargeError", Severity: "kill", Source: "runtime", Step: step,
		Message: fmt.Sprintf("%s is %d bytes, over the limit of %d bytes", what, n, limit)}
}
