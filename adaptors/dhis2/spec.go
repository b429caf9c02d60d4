package dhis2

import "github.com/jobmediator/jobmediator/spec"

// Spec is the credential this adaptor reads (state.configuration).
var Spec = spec.Credential{
	Adaptor: "dhis2",
	Doc:     "A DHIS2 instance and an account on it: a personal access token, or a username and password.",
	Fields: []spec.Field{
		{Name: "hostUrl", Type: spec.String, Required: true, Aliases: []string{"apiUrl"},
			Doc: "Base URL of the instance, e.g. https://play.dhis2.org/40 (apiUrl is the legacy name, still read)."},
		{Name: "username", Type: spec.String, Doc: "User for Basic auth, with password."},
		{Name: "password", Type: spec.String, Secret: true, Doc: "Password of username."},
		{Name: "pat", Type: spec.String, Secret: true, Doc: "Personal access token (sent as `Authorization: ApiToken <pat>`); wins over username/password."},
		{Name: "apiVersion", Type: spec.String, Doc: "API version put in every path (/api/<apiVersion>/…); an operation's own apiVersion option wins.", Default: "none: /api/…"},
	},
	AnyOf: [][]string{{"pat"}, {"username", "password"}},
}

func init() { spec.Register(Spec) }
