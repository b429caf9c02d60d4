package dhis2

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// period is a parsed DHIS2 ISO period id.
type period struct {
	id         string
	typ        string // DHIS2 period type name, e.g. "Monthly"
	start, end time.Time
}

var (
	reDaily     = regexp.MustCompile(`^(\d{4})(\d{2})(\d{2})$`)
	reWeekly    = regexp.MustCompile(`^(\d{4})(Wed|Thu|Sat|Sun|Bi)?W(\d{1,2})$`)
	reMonthly   = regexp.MustCompile(`^(\d{4})(\d{2})$`)
	reMonthlyD  = regexp.MustCompile(`^(\d{4})-(\d{2})$`)
	reBiMonthly = regexp.MustCompile(`^(\d{4})(\d{2})B$`)
	reQuarterly = regexp.MustCompile(`^(\d{4})(Nov)?Q([1-4])$`)
	reSixMonth  = regexp.MustCompile(`^(\d{4})(April|Nov)?S([12])$`)
	reYearly    = regexp.MustCompile(`^(\d{4})$`)
	reFinancial = regexp.MustCompile(`^(\d{4})(April|July|Oct|Nov)$`)
)

func date(y, m, d int) time.Time { return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC) }

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

// isoWeekStart returns the Monday of ISO week w of ISO year y (weekday
// offsets the start for Wednesday/Thursday/Saturday/Sunday weeks).
func isoWeekStart(y, w int, startDay time.Weekday) time.Time {
	// The week containing Jan 4th is week 1 (ISO 8601), generalised to the
	// week's start day as DHIS2 does for WeeklyWednesday etc.
	jan4 := date(y, 1, 4)
	off := (int(jan4.Weekday()) - int(startDay) + 7) % 7
	w1 := jan4.AddDate(0, 0, -off)
	return w1.AddDate(0, 0, 7*(w-1))
}

func parsePeriod(id string) (period, error) {
	bad := fmt.Errorf("period not valid: %s", id)
	p := period{id: id}
	switch {
	case reDaily.MatchString(id):
		m := reDaily.FindStringSubmatch(id)
		y, mo, d := atoi(m[1]), atoi(m[2]), atoi(m[3])
		t := date(y, mo, d)
		if t.Month() != time.Month(mo) || t.Day() != d {
			return p, bad
		}
		p.typ, p.start, p.end = "Daily", t, t
	case reWeekly.MatchString(id):
		m := reWeekly.FindStringSubmatch(id)
		y, w := atoi(m[1]), atoi(m[3])
		if w < 1 || w > 53 {
			return p, bad
		}
		days := 7
		switch m[2] {
		case "":
			p.typ, p.start = "Weekly", isoWeekStart(y, w, time.Monday)
		case "Wed":
			p.typ, p.start = "WeeklyWednesday", isoWeekStart(y, w, time.Wednesday)
		case "Thu":
			p.typ, p.start = "WeeklyThursday", isoWeekStart(y, w, time.Thursday)
		case "Sat":
			p.typ, p.start = "WeeklySaturday", isoWeekStart(y, w, time.Saturday)
		case "Sun":
			p.typ, p.start = "WeeklySunday", isoWeekStart(y, w, time.Sunday)
		case "Bi":
			if w > 27 {
				return p, bad
			}
			p.typ, p.start, days = "BiWeekly", isoWeekStart(y, 2*w-1, time.Monday), 14
		}
		// Week 53 only exists in long years.
		if w == 53 && m[2] == "" && isoWeekStart(y+1, 1, time.Monday).Equal(p.start) {
			return p, bad
		}
		p.end = p.start.AddDate(0, 0, days-1)
	case reBiMonthly.MatchString(id):
		m := reBiMonthly.FindStringSubmatch(id)
		y, b := atoi(m[1]), atoi(m[2])
		if b < 1 || b > 6 {
			return p, bad
		}
		p.typ, p.start = "BiMonthly", date(y, 2*b-1, 1)
		p.end = p.start.AddDate(0, 2, -1)
	case reMonthly.MatchString(id) || reMonthlyD.MatchString(id):
		m := reMonthly.FindStringSubmatch(id)
		if m == nil {
			m = reMonthlyD.FindStringSubmatch(id)
		}
		y, mo := atoi(m[1]), atoi(m[2])
		if mo < 1 || mo > 12 {
			return p, bad
		}
		p.typ, p.start = "Monthly", date(y, mo, 1)
		p.end = p.start.AddDate(0, 1, -1)
	case reQuarterly.MatchString(id):
		m := reQuarterly.FindStringSubmatch(id)
		y, q := atoi(m[1]), atoi(m[3])
		if m[2] == "Nov" {
			// November-based periods are labelled by the year they end in.
			p.typ, p.start = "QuarterlyNov", date(y-1, 11+3*(q-1), 1)
		} else {
			p.typ, p.start = "Quarterly", date(y, 3*q-2, 1)
		}
		p.end = p.start.AddDate(0, 3, -1)
	case reSixMonth.MatchString(id):
		m := reSixMonth.FindStringSubmatch(id)
		y, h := atoi(m[1]), atoi(m[3])
		switch m[2] {
		case "":
			p.typ, p.start = "SixMonthly", date(y, 6*h-5, 1)
		case "April":
			p.typ, p.start = "SixMonthlyApril", date(y, 4+6*(h-1), 1)
		case "Nov":
			p.typ, p.start = "SixMonthlyNov", date(y-1, 11+6*(h-1), 1)
		}
		p.end = p.start.AddDate(0, 6, -1)
	case reYearly.MatchString(id):
		y := atoi(id)
		p.typ, p.start, p.end = "Yearly", date(y, 1, 1), date(y, 12, 31)
	case reFinancial.MatchString(id):
		m := reFinancial.FindStringSubmatch(id)
		y := atoi(m[1])
		switch m[2] {
		case "April":
			p.typ, p.start = "FinancialApril", date(y, 4, 1)
		case "July":
			p.typ, p.start = "FinancialJuly", date(y, 7, 1)
		case "Oct":
			p.typ, p.start = "FinancialOct", date(y, 10, 1)
		case "Nov":
			p.typ, p.start = "FinancialNov", date(y-1, 11, 1)
		}
		p.end = p.start.AddDate(1, 0, -1)
	default:
		return p, bad
	}
	return p, nil
}

// periodLength approximates how far "n future periods" reaches for a period
// type; used for openFuturePeriods (E7641).
func periodLength(typ string) (years, months, days int) {
	switch typ {
	case "Daily":
		return 0, 0, 1
	case "Weekly", "WeeklyWednesday", "WeeklyThursday", "WeeklySaturday", "WeeklySunday":
		return 0, 0, 7
	case "BiWeekly":
		return 0, 0, 14
	case "Monthly":
		return 0, 1, 0
	case "BiMonthly":
		return 0, 2, 0
	case "Quarterly", "QuarterlyNov":
		return 0, 3, 0
	case "SixMonthly", "SixMonthlyApril", "SixMonthlyNov":
		return 0, 6, 0
	}
	return 1, 0, 0
}
