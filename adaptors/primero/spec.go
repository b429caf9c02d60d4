package primero

import "github.com/jobmediator/jobmediator/spec"

// Spec is the credential this adaptor reads (state.configuration).
var Spec = spec.Credential{
	Adaptor: "primero",
	Doc:     "A Primero v2 server and an API user.",
	Fields: []spec.Field{
		{Name: "url", Type: spec.String, Required: true, Doc: "Server URL, e.g. https://primero.example.org."},
		{Name: "user", Type: spec.String, Required: true, Doc: "API user (logs in with POST /api/v2/tokens, or Basic with basicAuth)."},
		{Name: "username", Type: spec.String, Doc: "API user for the http namespace (3.1+), which reads username before user, as OpenFn does, and for 1.x post() (Basic auth, as language-http 2.x); logging in always uses user."},
		{Name: "password", Type: spec.String, Required: true, Secret: true, Doc: "Password of user."},
		{Name: "baseUrl", Type: spec.String, Doc: "1.x post() only: prefix of its path (language-http 2.x's setUrl)."},
		{Name: "authType", Type: spec.String, Doc: "1.x post() only: 'digest' asks for digest auth, which is refused by name (UNSUPPORTED)."},
		{Name: "basicAuth", Type: spec.Bool, Default: "false", Doc: "Send Basic auth on every request instead of logging in for a token."},
	},
}

func init() { spec.Register(Spec) }
