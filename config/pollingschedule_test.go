package config

import (
	"os"
	"strings"
	"testing"
)

func TestValidatePollingSchedule(t *testing.T) {
	for _, ok := range []string{
		"5 minutes", "1 minute", "1.5 hours", "one minute", "ten seconds", "3 days and 4 hours",
		"3 days, 4 hours and 36 seconds", "minute", "60000", "2 weeks", "1 month",
		"*/5 * * * *", "0 2 * * MON-FRI", "30 */5 * * * *", "@hourly",
	} {
		if err := ValidatePollingSchedule(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"":                  "empty",
		"every 5 minutes":   "neither an interval",
		"5 mins":            "neither an interval",
		"eleven minutes":    "neither an interval",
		"@every 5m":         "@every is our cron's syntax",
		"*/5 * * *":         "neither an interval",
		"61 * * * * *":      "second",
		"0 25 * * *":        "hour",
		"-1 minutes":        "neither an interval",
		"5 minutes and foo": "neither an interval",
	} {
		err := ValidatePollingSchedule(bad)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error mentioning %q", bad, err, want)
		}
	}
}

// A schedule core could not read fails the options file at its line, so
// `check` and start-up say so instead of the workflow never polling.
func TestBadPollingScheduleFailsAtItsLine(t *testing.T) {
	path := t.TempDir() + "/jobmediator.yaml"
	if err := os.WriteFile(path, []byte("workflows:\n  pull:\n    polling: every 5 minutes\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadMediatorOptions(path)
	if err == nil || !strings.Contains(err.Error(), "jobmediator.yaml:3: workflows.pull.polling: polling schedule \"every 5 minutes\" is neither") ||
		!strings.Contains(err.Error(), "core would never poll it") {
		t.Fatalf("error %v", err)
	}
}
