package config

import "testing"

func TestValidateCron(t *testing.T) {
	valid := []string{"0 * * * *", "00 * * * *", "*/5 * * * *", "0 9-17 * * MON-FRI", "0 0 1,15 * *", "0 0 ? * SUN",
		"15 3 * JAN,jul *", "0 0 * * 7", "@hourly", "@DAILY", "@every 90s", "@every 1h30m", "  0 * * * *  "}
	for _, e := range valid {
		if err := ValidateCron(e); err != nil {
			t.Errorf("ValidateCron(%q) = %v", e, err)
		}
	}
	invalid := map[string]string{
		"":             "cron expression is empty",
		"* * * *":      `"* * * *" has 4 fields, want 5`,
		"0 0 * * * *":  `"0 0 * * * *" has 6 fields, want 5`,
		"60 * * * *":   `minute field "60": 60 is out of range 0-59`,
		"* 24 * * *":   `hour field "24": 24 is out of range 0-23`,
		"* * 0 * *":    `day of month field "0": 0 is out of range 1-31`,
		"* * * 13 *":   `month field "13": 13 is out of range 1-12`,
		"* * * * 8":    `day of week field "8": 8 is out of range 0-7`,
		"*/0 * * * *":  `minute field "*/0": step "0" must be a positive number`,
		"5-1 * * * *":  `minute field "5-1": range 5-1 is backwards`,
		"? * * * *":    "minute field \"?\": `?` is only allowed alone in the day fields",
		"1,,2 * * * *": `minute field "1,,2": empty list item`,
		"* * * FOO *":  `month field "FOO": "FOO" is not a number`,
		"@fortnightly": `unknown descriptor "@fortnightly" (known: @yearly, @annually, @monthly, @weekly, @daily, @midnight, @hourly, @every <duration>)`,
		"@every soon":  `@every "soon": not a duration like 5m or 1h30m`,
		"@every 10ms":  `@every 10ms: the interval must be at least 1s`,
	}
	for e, want := range invalid {
		err := ValidateCron(e)
		if err == nil || err.Error() != want {
			t.Errorf("ValidateCron(%q) = %v, want %q", e, err, want)
		}
	}
}

func BenchmarkValidateCron(b *testing.B) {
	for b.Loop() {
		_ = ValidateCron("*/5 9-17 1,15 JAN-JUN MON-FRI")
	}
}

func TestNormaliseDOW(t *testing.T) {
	for in, want := range map[string]string{
		"7": "0", "MON": "MON", "5-7": "0,5,6", "*/2": "0,2,4,6", "0,7": "0", "1-7/2": "0,1,3,5", "SAT-7": "0,6",
	} {
		got, err := normaliseDOW(in)
		if err != nil || got != want {
			t.Errorf("normaliseDOW(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
