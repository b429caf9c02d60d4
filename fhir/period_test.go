package fhir

import (
	"strings"
	"testing"
	"time"

	models "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

func d(s string) time.Time {
	t, err := time.Parse(dateLayout, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestParsePeriod(t *testing.T) {
	cases := []struct {
		id, canonical, typ, start, end string
	}{
		{"20240131", "20240131", PeriodDaily, "2024-01-31", "2024-01-31"},
		{"2024-02-29", "20240229", PeriodDaily, "2024-02-29", "2024-02-29"}, // leap day, alternative form
		{"2024W5", "2024W5", PeriodWeekly, "2024-01-29", "2024-02-04"},
		{"2024W05", "2024W5", PeriodWeekly, "2024-01-29", "2024-02-04"},
		{"2024W1", "2024W1", PeriodWeekly, "2024-01-01", "2024-01-07"},
		{"2021W1", "2021W1", PeriodWeekly, "2021-01-04", "2021-01-10"}, // ISO week 1 of 2021
		{"2020W53", "2020W53", PeriodWeekly, "2020-12-28", "2021-01-03"},
		{"2025W1", "2025W1", PeriodWeekly, "2024-12-30", "2025-01-05"}, // week-year differs
		{"2015W53", "2015W53", PeriodWeekly, "2015-12-28", "2016-01-03"},
		{"2024WedW1", "2024WedW1", PeriodWeeklyWednesday, "2024-01-03", "2024-01-09"},
		{"2024ThuW1", "2024ThuW1", PeriodWeeklyThursday, "2024-01-04", "2024-01-10"},
		{"2024SatW1", "2024SatW1", PeriodWeeklySaturday, "2023-12-30", "2024-01-05"},
		{"2024SunW1", "2024SunW1", PeriodWeeklySunday, "2023-12-31", "2024-01-06"},
		{"2024BiW1", "2024BiW1", PeriodBiWeekly, "2024-01-01", "2024-01-14"},
		{"2024BiW3", "2024BiW3", PeriodBiWeekly, "2024-01-29", "2024-02-11"},
		{"2024BiW26", "2024BiW26", PeriodBiWeekly, "2024-12-16", "2024-12-29"},
		{"202401", "202401", PeriodMonthly, "2024-01-01", "2024-01-31"},
		{"2024-02", "202402", PeriodMonthly, "2024-02-01", "2024-02-29"},
		{"202302", "202302", PeriodMonthly, "2023-02-01", "2023-02-28"},
		{"202401B", "202401B", PeriodBiMonthly, "2024-01-01", "2024-02-29"},
		{"202402B", "202402B", PeriodBiMonthly, "2024-03-01", "2024-04-30"},
		{"202406B", "202406B", PeriodBiMonthly, "2024-11-01", "2024-12-31"},
		{"2024Q1", "2024Q1", PeriodQuarterly, "2024-01-01", "2024-03-31"},
		{"2024Q4", "2024Q4", PeriodQuarterly, "2024-10-01", "2024-12-31"},
		{"2024NovQ1", "2024NovQ1", PeriodQuarterlyNov, "2023-11-01", "2024-01-31"},
		{"2024S1", "2024S1", PeriodSixMonthly, "2024-01-01", "2024-06-30"},
		{"2024S2", "2024S2", PeriodSixMonthly, "2024-07-01", "2024-12-31"},
		{"2024AprilS1", "2024AprilS1", PeriodSixMonthlyApril, "2024-04-01", "2024-09-30"},
		{"2024AprilS2", "2024AprilS2", PeriodSixMonthlyApril, "2024-10-01", "2025-03-31"},
		{"2024NovS1", "2024NovS1", PeriodSixMonthlyNov, "2023-11-01", "2024-04-30"},
		{"2024", "2024", PeriodYearly, "2024-01-01", "2024-12-31"},
		{"2024April", "2024April", PeriodFinancialApril, "2024-04-01", "2025-03-31"},
		{"2024July", "2024July", PeriodFinancialJuly, "2024-07-01", "2025-06-30"},
		{"2024Oct", "2024Oct", PeriodFinancialOct, "2024-10-01", "2025-09-30"},
		{"2024Feb", "2024Feb", PeriodFinancialFeb, "2024-02-01", "2025-01-31"},
		// November is labelled by the year it ends in (DHIS2
		// FinancialNovemberPeriodType prints start year + 1).
		{"2024Nov", "2024Nov", PeriodFinancialNov, "2023-11-01", "2024-10-31"},
	}
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) {
			p, err := ParsePeriod(c.id)
			if err != nil {
				t.Fatal(err)
			}
			if p.ID != c.canonical || p.Type != c.typ || !p.Start.Equal(d(c.start)) || !p.End.Equal(d(c.end)) {
				t.Fatalf("got %s %s %s..%s, want %s %s %s..%s", p.ID, p.Type, p.Start.Format(dateLayout), p.End.Format(dateLayout), c.canonical, c.typ, c.start, c.end)
			}
			// Both directions: the range maps back to the canonical id,
			// and every day of the period is contained in it.
			id, err := PeriodFor(c.typ, p.Start, p.End)
			if err != nil || id != c.canonical {
				t.Fatalf("PeriodFor = %q, %v; want %q", id, err, c.canonical)
			}
			for day := p.Start; !day.After(p.End); day = day.AddDate(0, 0, 1) {
				q, err := PeriodContaining(c.typ, day)
				if err != nil || q.ID != c.canonical {
					t.Fatalf("PeriodContaining(%s) = %q, %v", day.Format(dateLayout), q.ID, err)
				}
			}
			fp := p.FHIR()
			back, err := PeriodFromFHIR(c.typ, fp)
			if err != nil || back != c.canonical {
				t.Fatalf("PeriodFromFHIR(%s..%s) = %q, %v", *fp.Start, *fp.End, back, err)
			}
		})
	}
}

func TestParsePeriodInvalid(t *testing.T) {
	cases := []struct{ id, want string }{
		{"", "empty period id"},
		{"20240230", "no such day 2024-02-30"},
		{"20230229", "no such day 2023-02-29"},
		{"202413", "month 13 out of range"},
		{"2024W0", "week 0 out of range 1..52"},
		{"2024W53", "week 53 out of range 1..52"},
		{"2021W53", "week 53 out of range 1..52"},
		{"2020W54", "week 54 out of range 1..53"},
		{"2024BiW27", "bi-week 27 out of range 1..26"},
		{"202407B", "bi-month 07 out of range"},
		{"2024Q5", "quarter 5 out of range"},
		{"2024S3", "half-year 3 out of range"},
		{"2024March", "not a known DHIS2 period format"},
		{"24Q1", "not a known DHIS2 period format"},
		{"2024w5", "not a known DHIS2 period format"},
	}
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) {
			_, err := ParsePeriod(c.id)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `"`+c.id+`"`) {
				t.Fatalf("ParsePeriod(%q) error = %v, want %q", c.id, err, c.want)
			}
		})
	}
}

func TestPeriodContainingBoundaries(t *testing.T) {
	cases := []struct{ typ, day, want string }{
		{PeriodWeekly, "2024-12-30", "2025W1"},
		{PeriodWeekly, "2021-01-03", "2020W53"},
		{PeriodWeekly, "2021-01-04", "2021W1"},
		{PeriodWeekly, "2016-01-01", "2015W53"},
		{PeriodWeeklySunday, "2024-01-06", "2024SunW1"},
		{PeriodWeeklySunday, "2023-12-30", "2023SunW52"},
		{PeriodBiWeekly, "2024-01-15", "2024BiW2"},
		{PeriodBiMonthly, "2024-12-31", "202406B"},
		{PeriodSixMonthlyApril, "2025-03-31", "2024AprilS2"},
		{PeriodSixMonthlyNov, "2024-10-31", "2024NovS2"},
		{PeriodQuarterlyNov, "2024-11-01", "2025NovQ1"},
		{PeriodFinancialApril, "2025-03-31", "2024April"},
		{PeriodFinancialApril, "2025-04-01", "2025April"},
		{PeriodFinancialNov, "2024-11-01", "2025Nov"},
		{PeriodFinancialNov, "2024-10-31", "2024Nov"},
		{PeriodFinancialJuly, "2024-06-30", "2023July"},
	}
	for _, c := range cases {
		p, err := PeriodContaining(c.typ, d(c.day))
		if err != nil || p.ID != c.want {
			t.Errorf("PeriodContaining(%s, %s) = %q, %v; want %q", c.typ, c.day, p.ID, err, c.want)
		}
	}
	if _, err := PeriodContaining(PeriodBiWeekly, d("2020-12-30")); err == nil || !strings.Contains(err.Error(), "ISO week 53 of 2020") {
		t.Errorf("week 53 BiWeekly error = %v", err)
	}
	if _, err := PeriodContaining("Fortnightly", d("2020-12-30")); err == nil || !strings.Contains(err.Error(), `unknown DHIS2 period type "Fortnightly"`) {
		t.Errorf("unknown type error = %v", err)
	}
}

func TestPeriodFromFHIR(t *testing.T) {
	p := func(s, e string) models.Period { return models.Period{Start: &s, End: &e} }
	cases := []struct {
		typ    string
		period models.Period
		want   string
		err    string
	}{
		{PeriodMonthly, p("2024-01-01", "2024-01-31"), "202401", ""},
		{PeriodMonthly, p("2024-01", "2024-01"), "202401", ""},
		{PeriodMonthly, p("2024-01-01T00:00:00+02:00", "2024-01-31T23:59:59+02:00"), "202401", ""},
		// Exclusive-style midnight end stays in January.
		{PeriodMonthly, p("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"), "202401", ""},
		{PeriodYearly, p("2024", "2024"), "2024", ""},
		{PeriodQuarterly, p("2014-01-01", "2014-03-31"), "2014Q1", ""},
		{PeriodMonthly, p("2024-01-01", "2024-02-29"), "", "is not one Monthly period (the Monthly period containing 2024-01-01 is 202401"},
		{PeriodMonthly, p("2024-01-15", "2024-02-14"), "", "is not one Monthly period"},
		{PeriodMonthly, p("2024-02-01", "2024-01-31"), "", "is before period.start"},
		{PeriodMonthly, p("2024-13-01", "2024-01-31"), "", "period.start: invalid dateTime"},
		{PeriodMonthly, p("2024-01-01T10:00", "2024-01-31"), "", "a time needs seconds and a time zone"},
		{"Decadely", p("2024-01-01", "2024-01-31"), "", `unknown DHIS2 period type "Decadely"`},
		{PeriodMonthly, models.Period{Start: strPtr("2024-01-01")}, "", "needs both start and end"},
	}
	for _, c := range cases {
		got, err := PeriodFromFHIR(c.typ, c.period)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("PeriodFromFHIR(%s) error = %v, want %q", c.typ, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("PeriodFromFHIR(%s) = %q, %v; want %q", c.typ, got, err, c.want)
		}
	}
	fp, err := PeriodToFHIR("2024W5")
	if err != nil || *fp.Start != "2024-01-29" || *fp.End != "2024-02-04" {
		t.Errorf("PeriodToFHIR = %v %v", fp, err)
	}
	if _, err := PeriodToFHIR("2024W99"); err == nil {
		t.Error("PeriodToFHIR accepted 2024W99")
	}
}

func BenchmarkParsePeriod(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := ParsePeriod("2024W5"); err != nil {
			b.Fatal(err)
		}
	}
}
