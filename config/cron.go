package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// The cron syntax accepted is what Lightning (Crontab), OpenFn v1 (Quantum)
// and robfig/cron's standard parser share: five fields, `*`, `?` (day fields),
// lists, ranges, steps, month and weekday names, plus the @hourly-style
// descriptors and `@every <duration>`. Checking syntax here means `check`
// catches a typo before the scheduler ever sees it.

type cronField struct {
	name     string
	min, max int
	names    map[string]int
	question bool // `?` allowed
}

var monthNames = map[string]int{"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6, "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}
var dayNames = map[string]int{"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}

var cronFields = []cronField{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day of month", min: 1, max: 31, question: true},
	{name: "month", min: 1, max: 12, names: monthNames},
	// 7 is Sunday too in most crons (Vixie, Quantum, Crontab).
	{name: "day of week", min: 0, max: 7, names: dayNames, question: true},
}

var cronDescriptors = []string{"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}

// cronFix is the fix text for any cron error.
const cronFix = "use 5 fields `minute hour day-of-month month day-of-week` (e.g. `0 * * * *`), a descriptor such as @hourly, or @every 5m"

// ValidateCron checks the syntax of a cron expression.
func ValidateCron(expr string) error {
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return fmt.Errorf("cron expression is empty")
	}
	if strings.HasPrefix(expr, "@") {
		if rest, ok := strings.CutPrefix(expr, "@every "); ok {
			d, err := time.ParseDuration(strings.TrimSpace(rest))
			if err != nil {
				return fmt.Errorf("@every %q: not a duration like 5m or 1h30m", strings.TrimSpace(rest))
			}
			if d < time.Second {
				return fmt.Errorf("@every %s: the interval must be at least 1s", d)
			}
			return nil
		}
		if contains(cronDescriptors, strings.ToLower(expr)) {
			return nil
		}
		return fmt.Errorf("unknown descriptor %q (known: %s, @every <duration>)", expr, strings.Join(cronDescriptors, ", "))
	}
	fields := strings.Fields(expr)
	if len(fields) != 5 {
		return fmt.Errorf("%q has %d fields, want 5", expr, len(fields))
	}
	for i, f := range fields {
		if err := cronFields[i].check(f); err != nil {
			return fmt.Errorf("%s field %q: %v", cronFields[i].name, f, err)
		}
	}
	return nil
}

func (cf cronField) check(field string) error {
	for _, item := range strings.Split(field, ",") {
		if item == "" {
			return fmt.Errorf("empty list item")
		}
		rng, step, hasStep := strings.Cut(item, "/")
		if hasStep {
			n, err := strconv.Atoi(step)
			if err != nil || n < 1 {
				return fmt.Errorf("step %q must be a positive number", step)
			}
		}
		switch {
		case rng == "*":
			continue
		case rng == "?":
			if !cf.question || hasStep {
				return fmt.Errorf("`?` is only allowed alone in the day fields")
			}
			continue
		}
		lo, hi, isRange := strings.Cut(rng, "-")
		a, err := cf.value(lo)
		if err != nil {
			return err
		}
		if isRange {
			b, err := cf.value(hi)
			if err != nil {
				return err
			}
			if a > b {
				return fmt.Errorf("range %s is backwards", rng)
			}
		}
	}
	return nil
}

func (cf cronField) value(s string) (int, error) {
	if n, ok := cf.names[strings.ToUpper(s)]; ok {
		return n, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	if n < cf.min || n > cf.max {
		return 0, fmt.Errorf("%d is out of range %d-%d", n, cf.min, cf.max)
	}
	return n, nil
}

// ParseCron parses a cron expression as the project states it (five
// fields, descriptors such as @hourly, or @every <duration>) in loc. It
// checks the syntax with ValidateCron first, so errors read the same as
// `check`'s (the scheduler and `check` read cron expressions one way), and maps day-of-week 7 (Sunday in Vixie cron, Quantum and
// Crontab) to 0, which robfig/cron does not accept.
func ParseCron(expr string, loc *time.Location) (cron.Schedule, error) {
	if err := ValidateCron(expr); err != nil {
		return nil, err
	}
	if loc == nil {
		loc = time.UTC
	}
	expr = strings.TrimSpace(expr)
	if !strings.HasPrefix(expr, "@") {
		f := strings.Fields(expr)
		dow, err := normaliseDOW(f[4])
		if err != nil {
			return nil, fmt.Errorf("day of week field %q: %v", f[4], err)
		}
		f[4] = dow
		expr = strings.Join(f, " ")
	}
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, fmt.Errorf("cron expression %q: %v", expr, err)
	}
	if spec, ok := s.(*cron.SpecSchedule); ok {
		spec.Location = loc
	}
	return s, nil
}

// normaliseDOW rewrites a day-of-week field that uses 7 or a step as an
// explicit list of 0-6; other fields pass through unchanged.
func normaliseDOW(field string) (string, error) {
	// Steps are expanded too: in a 0-7 field `1/3` reaches 7 (Sunday),
	// which robfig's 0-6 field would not.
	expand := strings.Contains(field, "/")
	for _, tok := range strings.FieldsFunc(field, func(r rune) bool { return r == ',' || r == '-' || r == '/' }) {
		if tok == "7" {
			expand = true
		}
	}
	if !expand {
		return field, nil
	}
	val := func(s string) (int, error) {
		if n, ok := dayNames[strings.ToUpper(s)]; ok {
			return n, nil
		}
		return strconv.Atoi(s)
	}
	var days [7]bool
	for _, item := range strings.Split(field, ",") {
		rng, stepS, hasStep := strings.Cut(item, "/")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepS)
			if err != nil || n < 1 {
				return "", fmt.Errorf("bad step %q", stepS)
			}
			step = n
		}
		lo, hi := 0, 7
		if rng != "*" && rng != "?" {
			a, b, isRange := strings.Cut(rng, "-")
			var err error
			if lo, err = val(a); err != nil {
				return "", fmt.Errorf("%q is not a day", a)
			}
			hi = lo
			if isRange {
				if hi, err = val(b); err != nil {
					return "", fmt.Errorf("%q is not a day", b)
				}
			} else if hasStep {
				hi = 7
			}
		}
		for d := lo; d <= hi; d += step {
			days[d%7] = true
		}
	}
	var out []string
	for d, on := range days {
		if on {
			out = append(out, strconv.Itoa(d))
		}
	}
	return strings.Join(out, ","), nil
}
