package fhir

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	models "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// DHIS2 period type names, as in DHIS2 metadata (dataSet.periodType).
const (
	PeriodDaily            = "Daily"
	PeriodWeekly           = "Weekly"
	PeriodWeeklyWednesday  = "WeeklyWednesday"
	PeriodWeeklyThursday   = "WeeklyThursday"
	PeriodWeeklySaturday   = "WeeklySaturday"
	PeriodWeeklySunday     = "WeeklySunday"
	PeriodBiWeekly         = "BiWeekly"
	PeriodMonthly          = "Monthly"
	PeriodBiMonthly        = "BiMonthly"
	PeriodQuarterly        = "Quarterly"
	PeriodQuarterlyNov     = "QuarterlyNov"
	PeriodSixMonthly       = "SixMonthly"
	PeriodSixMonthlyApril  = "SixMonthlyApril"
	PeriodSixMonthlyNov    = "SixMonthlyNov"
	PeriodYearly           = "Yearly"
	PeriodFinancialFeb     = "FinancialFeb"
	PeriodFinancialApril   = "FinancialApril"
	PeriodFinancialJuly    = "FinancialJuly"
	PeriodFinancialAug     = "FinancialAug"
	PeriodFinancialSep     = "FinancialSep"
	PeriodFinancialOct     = "FinancialOct"
	PeriodFinancialNov     = "FinancialNov"
	dateLayout             = "2006-01-02"
	minPeriodYear          = 1000
	maxPeriodYear          = 9999
	daysPerWeek            = 7
	financialNovStartMonth = time.November
)

// Period is a DHIS2 period: its id, type and inclusive date range. Start and
// End are dates at 00:00 UTC (End is the last day of the period, not the day
// after), matching DHIS2 and FHIR Period semantics.
type Period struct {
	ID    string    `json:"id"`
	Type  string    `json:"type"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// FHIR returns the period as a FHIR Period with date-only bounds.
func (p Period) FHIR() models.Period {
	s, e := p.Start.Format(dateLayout), p.End.Format(dateLayout)
	return models.Period{Start: &s, End: &e}
}

// weekly period types: DHIS2 id infix and first weekday.
var weeklyTypes = []struct {
	typ    string
	infix  string
	starts time.Weekday
}{
	{PeriodWeekly, "W", time.Monday},
	{PeriodWeeklyWednesday, "WedW", time.Wednesday},
	{PeriodWeeklyThursday, "ThuW", time.Thursday},
	{PeriodWeeklySaturday, "SatW", time.Saturday},
	{PeriodWeeklySunday, "SunW", time.Sunday},
}

// financial year types: id suffix and start month. All but November are
// labelled by the year they start in; FinancialNov by the year it ends in
// (DHIS2 FinancialNovemberPeriodType prints getYear()+1).
var financialTypes = []struct {
	typ    string
	suffix string
	month  time.Month
}{
	{PeriodFinancialFeb, "Feb", time.February},
	{PeriodFinancialApril, "April", time.April},
	{PeriodFinancialJuly, "July", time.July},
	{PeriodFinancialAug, "Aug", time.August},
	{PeriodFinancialSep, "Sep", time.September},
	{PeriodFinancialOct, "Oct", time.October},
	{PeriodFinancialNov, "Nov", financialNovStartMonth},
}

var (
	reDaily     = regexp.MustCompile(`^([0-9]{4})-?([0-9]{2})-?([0-9]{2})$`)
	reWeekly    = regexp.MustCompile(`^([0-9]{4})(W|WedW|ThuW|SatW|SunW|BiW)([0-9]{1,2})$`)
	reMonthly   = regexp.MustCompile(`^([0-9]{4})-?([0-9]{2})$`)
	reBiMonthly = regexp.MustCompile(`^([0-9]{4})([0-9]{2})B$`)
	reQuarterly = regexp.MustCompile(`^([0-9]{4})(Nov)?Q([0-9])$`)
	reSix       = regexp.MustCompile(`^([0-9]{4})(April|Nov)?S([0-9])$`)
	reYearly    = regexp.MustCompile(`^([0-9]{4})$`)
	reFinancial = regexp.MustCompile(`^([0-9]{4})(Feb|April|July|Aug|Sep|Oct|Nov)$`)
)

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// monthSpan returns the period of n months starting at (y, m).
func monthSpan(y int, m time.Month, n int) (time.Time, time.Time) {
	s := date(y, m, 1)
	return s, s.AddDate(0, n, -1)
}

// ParsePeriod parses a DHIS2 period id (any type listed in the package
// constants; DHIS2's alternative input forms 2024W05, 2024-01-15 and
// 2024-01 are accepted, the returned ID is canonical).
func ParsePeriod(id string) (Period, error) {
	bad := func(format string, args ...any) (Period, error) {
		return Period{}, fmt.Errorf("invalid DHIS2 period %q: %s", id, fmt.Sprintf(format, args...))
	}
	atoi := func(s string) int { n, _ := strconv.Atoi(s); return n }
	if id == "" {
		return bad("empty period id")
	}
	if m := reDaily.FindStringSubmatch(id); m != nil && len(id) >= 8 {
		y, mo, d := atoi(m[1]), atoi(m[2]), atoi(m[3])
		t := date(y, time.Month(mo), d)
		if mo < 1 || mo > 12 || t.Day() != d {
			return bad("no such day %04d-%02d-%02d", y, mo, d)
		}
		return Period{ID: t.Format("20060102"), Type: PeriodDaily, Start: t, End: t}, nil
	}
	if m := reWeekly.FindStringSubmatch(id); m != nil {
		y, n := atoi(m[1]), atoi(m[3])
		if m[2] == "BiW" {
			max := isoWeeksInYear(y) / 2
			if n < 1 || n > max {
				return bad("bi-week %d out of range 1..%d for %d", n, max, y)
			}
			s := weekOneStart(y, time.Monday).AddDate(0, 0, 14*(n-1))
			return Period{ID: fmt.Sprintf("%dBiW%d", y, n), Type: PeriodBiWeekly, Start: s, End: s.AddDate(0, 0, 13)}, nil
		}
		for _, wt := range weeklyTypes {
			if wt.infix != m[2] {
				continue
			}
			max := weeksInYear(y, wt.starts)
			if n < 1 || n > max {
				return bad("week %d out of range 1..%d for %d", n, max, y)
			}
			s := weekOneStart(y, wt.starts).AddDate(0, 0, daysPerWeek*(n-1))
			return Period{ID: fmt.Sprintf("%d%s%d", y, wt.infix, n), Type: wt.typ, Start: s, End: s.AddDate(0, 0, 6)}, nil
		}
	}
	if m := reMonthly.FindStringSubmatch(id); m != nil {
		y, mo := atoi(m[1]), atoi(m[2])
		if mo < 1 || mo > 12 {
			return bad("month %02d out of range 01..12", mo)
		}
		s, e := monthSpan(y, time.Month(mo), 1)
		return Period{ID: s.Format("200601"), Type: PeriodMonthly, Start: s, End: e}, nil
	}
	if m := reBiMonthly.FindStringSubmatch(id); m != nil {
		y, n := atoi(m[1]), atoi(m[2])
		if n < 1 || n > 6 {
			return bad("bi-month %02d out of range 01..06", n)
		}
		s, e := monthSpan(y, time.Month(2*n-1), 2)
		return Period{ID: fmt.Sprintf("%d%02dB", y, n), Type: PeriodBiMonthly, Start: s, End: e}, nil
	}
	if m := reQuarterly.FindStringSubmatch(id); m != nil {
		y, n := atoi(m[1]), atoi(m[3])
		if n < 1 || n > 4 {
			return bad("quarter %d out of range 1..4", n)
		}
		if m[2] == "Nov" { // labelled by the year it ends in: NovQ1 = Nov..Jan
			s, e := monthSpan(y-1, time.November+time.Month(3*(n-1)), 3)
			return Period{ID: fmt.Sprintf("%dNovQ%d", y, n), Type: PeriodQuarterlyNov, Start: s, End: e}, nil
		}
		s, e := monthSpan(y, time.Month(3*n-2), 3)
		return Period{ID: fmt.Sprintf("%dQ%d", y, n), Type: PeriodQuarterly, Start: s, End: e}, nil
	}
	if m := reSix.FindStringSubmatch(id); m != nil {
		y, n := atoi(m[1]), atoi(m[3])
		if n < 1 || n > 2 {
			return bad("half-year %d out of range 1..2", n)
		}
		switch m[2] {
		case "April":
			s, e := monthSpan(y, time.April+time.Month(6*(n-1)), 6)
			return Period{ID: fmt.Sprintf("%dAprilS%d", y, n), Type: PeriodSixMonthlyApril, Start: s, End: e}, nil
		case "Nov":
			s, e := monthSpan(y-1, time.November+time.Month(6*(n-1)), 6)
			return Period{ID: fmt.Sprintf("%dNovS%d", y, n), Type: PeriodSixMonthlyNov, Start: s, End: e}, nil
		}
		s, e := monthSpan(y, time.Month(6*n-5), 6)
		return Period{ID: fmt.Sprintf("%dS%d", y, n), Type: PeriodSixMonthly, Start: s, End: e}, nil
	}
	if m := reYearly.FindStringSubmatch(id); m != nil {
		y := atoi(m[1])
		s, e := monthSpan(y, time.January, 12)
		return Period{ID: m[1], Type: PeriodYearly, Start: s, End: e}, nil
	}
	if m := reFinancial.FindStringSubmatch(id); m != nil {
		y := atoi(m[1])
		for _, ft := range financialTypes {
			if ft.suffix != m[2] {
				continue
			}
			sy := y
			if ft.month == financialNovStartMonth {
				sy = y - 1
			}
			s, e := monthSpan(sy, ft.month, 12)
			return Period{ID: id, Type: ft.typ, Start: s, End: e}, nil
		}
	}
	return bad("not a known DHIS2 period format (e.g. 20240131, 2024W5, 2024BiW1, 202401, 202401B, 2024Q1, 2024S1, 2024AprilS1, 2024, 2024April, 2024Nov)")
}

// weekOneStart returns the first day of week 1 of year y for weeks starting
// on `starts`: the week containing 4 January, i.e. the first week with at
// least four days in y (ISO 8601 for Monday; DHIS2 uses the same
// minimal-days rule for the other weekly types).
func weekOneStart(y int, starts time.Weekday) time.Time {
	jan4 := date(y, time.January, 4)
	back := (int(jan4.Weekday()) - int(starts) + daysPerWeek) % daysPerWeek
	return jan4.AddDate(0, 0, -back)
}

func weeksInYear(y int, starts time.Weekday) int {
	return int(weekOneStart(y+1, starts).Sub(weekOneStart(y, starts)).Hours()/24) / daysPerWeek
}

func isoWeeksInYear(y int) int { return weeksInYear(y, time.Monday) }

// PeriodContaining returns the period of type typ that contains day d (its
// calendar date is used as is, whatever its location).
func PeriodContaining(typ string, d time.Time) (Period, error) {
	d = date(d.Year(), d.Month(), d.Day())
	y, mo := d.Year(), d.Month()
	if y < minPeriodYear || y > maxPeriodYear {
		return Period{}, fmt.Errorf("date %s outside the supported years %d..%d", d.Format(dateLayout), minPeriodYear, maxPeriodYear)
	}
	var id string
	switch typ {
	case PeriodDaily:
		id = d.Format("20060102")
	case PeriodWeekly, PeriodWeeklyWednesday, PeriodWeeklyThursday, PeriodWeeklySaturday, PeriodWeeklySunday:
		for _, wt := range weeklyTypes {
			if wt.typ == typ {
				wy, wn := weekOf(d, wt.starts)
				id = fmt.Sprintf("%d%s%d", wy, wt.infix, wn)
			}
		}
	case PeriodBiWeekly:
		wy, wn := weekOf(d, time.Monday)
		if wn > isoWeeksInYear(wy)/2*2 {
			return Period{}, fmt.Errorf("date %s is in ISO week %d of %d, which DHIS2 places in no BiWeekly period", d.Format(dateLayout), wn, wy)
		}
		id = fmt.Sprintf("%dBiW%d", wy, (wn+1)/2)
	case PeriodMonthly:
		id = d.Format("200601")
	case PeriodBiMonthly:
		id = fmt.Sprintf("%d%02dB", y, (int(mo)+1)/2)
	case PeriodQuarterly:
		id = fmt.Sprintf("%dQ%d", y, (int(mo)+2)/3)
	case PeriodQuarterlyNov:
		ly, idx := novYear(d)
		id = fmt.Sprintf("%dNovQ%d", ly, idx/3+1)
	case PeriodSixMonthly:
		id = fmt.Sprintf("%dS%d", y, (int(mo)+5)/6)
	case PeriodSixMonthlyApril:
		sy, idx := y, int(mo)-int(time.April)
		if idx < 0 {
			sy, idx = y-1, idx+12
		}
		id = fmt.Sprintf("%dAprilS%d", sy, idx/6+1)
	case PeriodSixMonthlyNov:
		ly, idx := novYear(d)
		id = fmt.Sprintf("%dNovS%d", ly, idx/6+1)
	case PeriodYearly:
		id = strconv.Itoa(y)
	default:
		found := false
		for _, ft := range financialTypes {
			if ft.typ != typ {
				continue
			}
			found = true
			sy := y
			if mo < ft.month {
				sy--
			}
			if ft.month == financialNovStartMonth {
				sy++ // labelled by the end year
			}
			id = fmt.Sprintf("%d%s", sy, ft.suffix)
		}
		if !found {
			return Period{}, fmt.Errorf("unknown DHIS2 period type %q", typ)
		}
	}
	return ParsePeriod(id)
}

// novYear returns the label year (the year the Nov-based year ends in) and
// the month index from November (0..11).
func novYear(d time.Time) (int, int) {
	idx := int(d.Month()) - int(time.November)
	if idx < 0 {
		return d.Year(), idx + 12
	}
	return d.Year() + 1, idx
}

// weekOf returns the week-based year and week number of d.
func weekOf(d time.Time, starts time.Weekday) (int, int) {
	y := d.Year()
	if next := weekOneStart(y+1, starts); !d.Before(next) {
		y++
	} else if d.Before(weekOneStart(y, starts)) {
		y--
	}
	days := int(d.Sub(weekOneStart(y, starts)).Hours() / 24)
	return y, days/daysPerWeek + 1
}

// PeriodFor returns the id of the period of type typ that spans exactly
// start..end (inclusive dates). It refuses to round: a range that is not one
// whole period is an error naming the period that contains start.
func PeriodFor(typ string, start, end time.Time) (string, error) {
	p, err := PeriodContaining(typ, start)
	if err != nil {
		return "", err
	}
	s := date(start.Year(), start.Month(), start.Day())
	e := date(end.Year(), end.Month(), end.Day())
	if !p.Start.Equal(s) || !p.End.Equal(e) {
		return "", fmt.Errorf("%s..%s is not one %s period (the %s period containing %s is %s = %s..%s)",
			s.Format(dateLayout), e.Format(dateLayout), typ, typ, s.Format(dateLayout), p.ID, p.Start.Format(dateLayout), p.End.Format(dateLayout))
	}
	return p.ID, nil
}

// PeriodFromFHIR maps a FHIR Period to the DHIS2 period id of type typ.
// Bounds may be dates, partial dates or dateTimes; a dateTime's calendar
// date is taken in its own UTC offset (the reporting time zone), never
// converted to UTC, so 2024-01-31T23:59:59+02:00 ends on 31 January.
func PeriodFromFHIR(typ string, p models.Period) (string, error) {
	if p.Start == nil || p.End == nil {
		return "", fmt.Errorf("FHIR period needs both start and end to map to a DHIS2 %s period", typ)
	}
	s, err := fhirDate(*p.Start, false)
	if err != nil {
		return "", fmt.Errorf("period.start: %w", err)
	}
	e, err := fhirDate(*p.End, true)
	if err != nil {
		return "", fmt.Errorf("period.end: %w", err)
	}
	if e.Before(s) {
		return "", fmt.Errorf("period.end %s is before period.start %s", *p.End, *p.Start)
	}
	return PeriodFor(typ, s, e)
}

// PeriodToFHIR maps a DHIS2 period id to a FHIR Period with date bounds.
func PeriodToFHIR(id string) (models.Period, error) {
	p, err := ParsePeriod(id)
	if err != nil {
		return models.Period{}, err
	}
	return p.FHIR(), nil
}

// fhirDate returns the calendar date of a FHIR date/dateTime. Partial dates
// widen: as a start 2024-02 means 2024-02-01, as an end 2024-02-29.
func fhirDate(s string, isEnd bool) (time.Time, error) {
	if err := checkTemporal("dateTime", s); err != nil {
		return time.Time{}, err
	}
	y, _ := strconv.Atoi(s[:4])
	switch {
	case len(s) == 4:
		if isEnd {
			return date(y, time.December, 31), nil
		}
		return date(y, time.January, 1), nil
	case len(s) == 7:
		m, _ := strconv.Atoi(s[5:7])
		if isEnd {
			return date(y, time.Month(m)+1, 0), nil
		}
		return date(y, time.Month(m), 1), nil
	}
	t, err := time.Parse(dateLayout, s[:10])
	if err != nil {
		return time.Time{}, err
	}
	// A dateTime end at exactly midnight is an exclusive bound in practice
	// (2024-02-01T00:00:00 ends January); FHIR ends are inclusive, so step
	// back one day rather than spill into the next period.
	if isEnd && len(s) > 10 && isMidnight(s[11:]) {
		t = t.AddDate(0, 0, -1)
	}
	return t, nil
}

// isMidnight reports whether a dateTime's time part ("hh:mm:ss[.fff]zone")
// is exactly 00:00:00.
func isMidnight(tp string) bool {
	if !strings.HasPrefix(tp, "00:00:00") {
		return false
	}
	rest := tp[8:]
	if strings.HasPrefix(rest, ".") {
		frac := strings.TrimLeft(rest[1:], "0")
		return frac == "" || !strings.ContainsAny(frac[:1], "123456789")
	}
	return true
}
