package oscar

import "github.com/jobmediator/jobmediator/spec"

// Spec is the credential this adaptor reads (state.configuration).
var Spec = spec.Credential{
	Adaptor: "oscar",
	Doc:     "An OSCaR server and its admin API user.",
	Fields: []spec.Field{
		{Name: "baseUrl", Type: spec.String, Required: true, Doc: "Server URL, e.g. https://oscar.example.org."},
		{Name: "username", Type: spec.String, Required: true, Doc: "E-mail of the OSCaR admin API user."},
		{Name: "password", Type: spec.String, Required: true, Secret: true, Doc: "Password of username."},
	},
}

func init() { spec.Register(Spec) }
