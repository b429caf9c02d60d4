// Package all links every adaptor into a binary; import it for its side
// effect of registering them (and their credential specs, see package spec).
package all

//go:generate go test -run TestReferenceDocs -update .

import (
	_ "github.com/jobmediator/jobmediator/adaptors/common"
	_ "github.com/jobmediator/jobmediator/adaptors/dhis2"
	_ "github.com/jobmediator/jobmediator/adaptors/fhir"
	_ "github.com/jobmediator/jobmediator/adaptors/http"
	_ "github.com/jobmediator/jobmediator/adaptors/oscar"
	_ "github.com/jobmediator/jobmediator/adaptors/postgresql"
	_ "github.com/jobmediator/jobmediator/adaptors/primero"
)
