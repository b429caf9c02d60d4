package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// OpenHIM core hands a polling channel's pollingSchedule to Agenda's
// every(), which takes a human interval (the human-interval package: "5
// minutes", "1.5 hours", "one minute", "3 days and 4 hours") or a cron
// expression (cron-parser: five fields, or six with seconds first). A schedule that is neither makes Agenda fail when core schedules
// the channel, and core only logs it: the workflow silently never polls.
// So `check` (and start-up) reject it here, at its line.

var intervalUnit = regexp.MustCompile(`^(milliseconds?|seconds?|minutes?|hours?|days?|weeks?|months?|years?)$`)

// human-interval's language map: numbers up to ten in words.
var intervalWords = map[string]bool{"one": true, "two": true, "three": true, "four": true, "five": true,
	"six": true, "seven": true, "eight": true, "nine": true, "ten": true}

var intervalSeparator = regexp.MustCompile(`\s*(,|\band\b)\s*`)

// ValidatePollingSchedule checks a pollingSchedule as core's scheduler
// reads it.
func ValidatePollingSchedule(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return fmt.Errorf("polling schedule is empty")
	}
	if humanInterval(s) {
		return nil
	}
	if strings.HasPrefix(s, "@every") {
		return fmt.Errorf("polling schedule %q: @every is our cron's syntax, not OpenHIM core's", s)
	}
	f := strings.Fields(s)
	switch {
	case strings.HasPrefix(s, "@"):
		return ValidateCron(s)
	case len(f) == 6:
		// cron-parser's optional seconds field comes first.
		if err := (cronField{name: "second", min: 0, max: 59}).check(f[0]); err != nil {
			return fmt.Errorf("polling schedule %q: seconds field: %v", s, err)
		}
		f = f[1:]
	case len(f) != 5:
		return fmt.Errorf("polling schedule %q is neither an interval such as \"5 minutes\" nor a cron expression", s)
	}
	if err := ValidateCron(strings.Join(f, " ")); err != nil {
		return fmt.Errorf("polling schedule %q: %v", s, err)
	}
	return nil
}

// humanInterval reports whether s is an interval human-interval reads: a
// number of milliseconds, or groups of [number] unit joined by "," or
// "and".
func humanInterval(s string) bool {
	if n, err := strconv.ParseFloat(s, 64); err == nil {
		return n > 0
	}
	groups := intervalSeparator.Split(strings.ToLower(s), -1)
	for _, g := range groups {
		w := strings.Fields(g)
		switch {
		case len(w) == 1 && intervalUnit.MatchString(w[0]):
			// a bare unit counts once
		case len(w) == 2 && intervalUnit.MatchString(w[1]):
			if n, err := strconv.ParseFloat(w[0], 64); (err != nil || n <= 0) && !intervalWords[w[0]] {
				return false
			}
		default:
			return false
		}
	}
	return len(groups) > 0
}
