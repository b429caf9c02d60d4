package dhis2

import (
	"testing"
)

func TestParsePeriod(t *testing.T) {
	for _, tc := range []struct {
		id, typ, start, end string
	}{
		{"20240229", "Daily", "2024-02-29", "2024-02-29"},
		{"2024W1", "Weekly", "2024-01-01", "2024-01-07"},
		{"2024W05", "Weekly", "2024-01-29", "2024-02-04"},
		{"2020W53", "Weekly", "2020-12-28", "2021-01-03"},
		{"2024WedW1", "WeeklyWednesday", "2024-01-03", "2024-01-09"},
		{"2024BiW1", "BiWeekly", "2024-01-01", "2024-01-14"},
		{"202401", "Monthly", "2024-01-01", "2024-01-31"},
		{"2024-02", "Monthly", "2024-02-01", "2024-02-29"},
		{"202403B", "BiMonthly", "2024-05-01", "2024-06-30"},
		{"2024Q2", "Quarterly", "2024-04-01", "2024-06-30"},
		{"2024NovQ1", "QuarterlyNov", "2023-11-01", "2024-01-31"},
		{"2024S2", "SixMonthly", "2024-07-01", "2024-12-31"},
		{"2024AprilS1", "SixMonthlyApril", "2024-04-01", "2024-09-30"},
		{"2024NovS1", "SixMonthlyNov", "2023-11-01", "2024-04-30"},
		{"2024", "Yearly", "2024-01-01", "2024-12-31"},
		{"2024April", "FinancialApril", "2024-04-01", "2025-03-31"},
		{"2024July", "FinancialJuly", "2024-07-01", "2025-06-30"},
		{"2024Oct", "FinancialOct", "2024-10-01", "2025-09-30"},
		{"2024Nov", "FinancialNov", "2023-11-01", "2024-10-31"},
	} {
		p, err := parsePeriod(tc.id)
		if err != nil {
			t.Errorf("%s: %v", tc.id, err)
			continue
		}
		if p.typ != tc.typ || p.start.Format("2006-01-02") != tc.start || p.end.Format("2006-01-02") != tc.end {
			t.Errorf("%s: %s %s..%s, want %s %s..%s", tc.id, p.typ, p.start.Format("2006-01-02"), p.end.Format("2006-01-02"), tc.typ, tc.start, tc.end)
		}
	}
	for _, bad := range []string{"", "2024-13", "202413", "20240230", "2024W54", "2021W53", "2024Q5", "2024S3", "202407B", "24", "2024BiW28", "abcd", "2024March"} {
		if _, err := parsePeriod(bad); err == nil {
			t.Errorf("%q parsed, want error", bad)
		}
	}
}
