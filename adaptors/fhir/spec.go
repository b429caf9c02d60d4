package fhir

import "github.com/jobmediator/jobmediator/spec"

// fhirFields are the fields both FHIR adaptors read.
func fhirFields(apiPathDefault string, authorization bool) []spec.Field {
	fs := []spec.Field{
		{Name: "baseUrl", Type: spec.String, Required: true, Doc: "Server URL, e.g. https://hapi.fhir.org/baseR4 (with apiPath appended)."},
		{Name: "apiPath", Type: spec.String, Default: apiPathDefault, Doc: "Path of the FHIR API under baseUrl."},
		{Name: "username", Type: spec.String, Doc: "User for Basic auth, with password."},
		{Name: "password", Type: spec.String, Secret: true, Doc: "Password of username."},
		{Name: "access_token", Type: spec.String, Secret: true, Doc: "Bearer token; wins over username/password."},
	}
	if authorization {
		fs = append(fs, spec.Field{Name: "authorization", Type: spec.String, Secret: true,
			Doc: "Authorization header sent as is; wins over access_token and username/password."})
	}
	return fs
}

// Spec4 is the credential language-fhir-4 reads (state.configuration).
var Spec4 = spec.Credential{
	Adaptor: "fhir-4",
	Doc:     "A FHIR R4 server; auth by a raw Authorization header, a bearer token or Basic.",
	Fields:  fhirFields("/fhir", true),
}

// Spec is the credential language-fhir (v5) reads (state.configuration).
var Spec = spec.Credential{
	Adaptor: "fhir",
	Doc:     "A FHIR server; auth by a bearer token or Basic.",
	Fields:  fhirFields("none", false),
}

func init() {
	spec.Register(Spec4)
	spec.Register(Spec)
}
