package dhis2

import (
	"fmt"
	"time"

	"github.com/jobmediator/jobmediator/fhir"
)

// period is a parsed DHIS2 ISO period id.
type period struct {
	id         string
	typ        string // DHIS2 period type name, e.g. "Monthly"
	start, end time.Time
}

// parsePeriod reads a DHIS2 period id with the project's one period parser
// (fhir.ParsePeriod, which the conversions use too), so the simulator
// accepts exactly the ids the mediator produces; the error is DHIS2's text.
func parsePeriod(id string) (period, error) {
	p, err := fhir.ParsePeriod(id)
	if err != nil {
		return period{id: id}, fmt.Errorf("period not valid: %s", id)
	}
	return period{id: id, typ: p.Type, start: p.Start, end: p.End}, nil
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
