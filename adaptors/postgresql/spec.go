package postgresql

import "github.com/jobmediator/jobmediator/spec"

// Spec is the credential this adaptor reads (state.configuration), field
// by field as ParseConfig reads it.
var Spec = spec.Credential{
	Adaptor: "postgresql",
	Doc:     "A PostgreSQL database and a user on it; TLS as node-postgres does it.",
	Fields: []spec.Field{
		{Name: "host", Type: spec.String, Required: true, Doc: "Host name or address (not a URL), or a Unix socket directory."},
		{Name: "port", Type: spec.Number, Default: "5432", Doc: "TCP port."},
		{Name: "database", Type: spec.String, Required: true, Doc: "Database name."},
		{Name: "user", Type: spec.String, Required: true, Doc: "User to connect as."},
		{Name: "password", Type: spec.String, Secret: true, Doc: "Password of user."},
		{Name: "ssl", Type: spec.Bool, Default: "false", Doc: "Connect over TLS."},
		{Name: "allowSelfSignedCert", Type: spec.Bool, Default: "false", Doc: "With ssl: accept a certificate no known authority signed."},
		{Name: "ca", Type: spec.Text, Doc: "With ssl: PEM certificate of the authority to trust."},
		{Name: "cert", Type: spec.Text, Doc: "With ssl: PEM client certificate."},
		{Name: "key", Type: spec.Text, Secret: true, Doc: "With ssl: PEM private key of cert."},
	},
}

func init() { spec.Register(Spec) }
