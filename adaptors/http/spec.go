package http

import "github.com/jobmediator/jobmediator/spec"

// Spec is the credential this adaptor reads (state.configuration). Every
// field is optional: a job may call absolute URLs without auth.
var Spec = spec.Credential{
	Adaptor: "http",
	Doc:     "Any HTTP API: a base URL for relative paths, and Basic or bearer auth.",
	Fields: []spec.Field{
		{Name: "baseUrl", Type: spec.String, Doc: "Joined to relative paths; from 6.x, requests must stay on its origin."},
		{Name: "username", Type: spec.String, Doc: "User for Basic auth (≤5: on every request; ≥6: only with baseUrl set)."},
		{Name: "password", Type: spec.String, Secret: true, Doc: "Password of username."},
		{Name: "access_token", Type: spec.String, Secret: true, Doc: "Bearer token (≥6, with baseUrl set); wins over username/password."},
		{Name: "tls", Type: spec.Object, Doc: "Not supported: a job fails with an UNSUPPORTED error when it is set (use a CA-signed certificate upstream)."},
	},
}

func init() { spec.Register(Spec) }
