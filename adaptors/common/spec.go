package common

import "github.com/jobmediator/jobmediator/spec"

// Spec: language-common reads no credential; every field is passed through
// to the job untouched, so nothing is checked.
var Spec = spec.Credential{
	Adaptor: "common",
	Doc:     "Reads no credential: state.configuration reaches the job as it is.",
	Open:    true,
}

func init() { spec.Register(Spec) }
