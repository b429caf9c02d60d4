package mediator

import (
	"encoding/json"
	"strings"
	"testing"

	_ "github.com/jobmediator/jobmediator/adaptors/all" // the adaptors' credential specs
)

// With the adaptors of a credential known, the console fields come from
// their declarations: a declared secret is a password whatever its name,
// types are the declared ones, declared fields the project leaves empty are
// offered, and an undeclared field is still judged by its name.
func TestRegistrationCredentialFieldsFromSpecs(t *testing.T) {
	pem := "-----BEGIN PRIVATE KEY-----MIIEvQ-SECRET-----END PRIVATE KEY-----"
	creds := []CredentialFields{
		{Key: "warehouse", Adaptors: []string{"postgresql"}, Fields: map[string]any{
			"host": "db.local", "database": "dw", "user": "etl", "key": pem, "apiKey": "undeclared-SECRET", "port": "5432"}},
		{Key: "shared", Adaptors: []string{"common", "dhis2", "http"}, Fields: map[string]any{
			"hostUrl": "https://dhis2.local", "baseUrl": "https://dhis2.local", "pat": "d2pat-SECRET"}},
		{Key: "legacy", Fields: map[string]any{"key": "not-judged-secret"}},
	}
	reg := BuildRegistration(testIdentity(), testChannels(), creds, []string{"patients-to-dhis2"})
	reg.Version = "1.0.0"
	if err := reg.Validate(); err != nil {
		t.Fatal(err)
	}
	types := map[string]string{}
	descs := map[string]string{}
	for _, d := range reg.ConfigDefs {
		for _, item := range d.Template {
			types[d.Param+"."+item.Param] = item.Type
			descs[d.Param+"."+item.Param] = item.Description
		}
	}
	for field, want := range map[string]string{
		"credential_warehouse.key":                 "password", // declared secret, not a sensitive-looking name
		"credential_warehouse.apiKey":              "password", // undeclared: by name
		"credential_warehouse.host":                "string",
		"credential_warehouse.port":                "number", // declared, though the project wrote text
		"credential_warehouse.ssl":                 "bool",   // declared, absent from the project: offered
		"credential_warehouse.ca":                  "bigstring",
		"credential_warehouse.password":            "password",
		"credential_shared.pat":                    "password",
		"credential_shared.username":               "string",
		"credential_shared.access_token":           "password", // http's, offered
		"credential_shared.hostUrl":                "string",
		"credential_legacy.key":                    "string", // no adaptors known: names only
		"credential_shared.apiVersion":             "string",
		"credential_warehouse.allowSelfSignedCert": "bool",
	} {
		if types[field] != want {
			t.Errorf("%s: type %q, want %q", field, types[field], want)
		}
	}
	if _, offered := types["credential_shared.apiUrl"]; offered {
		t.Error("an alias is offered beside its field")
	}
	if d := descs["credential_warehouse.host"]; !strings.Contains(d, "not a URL") || !strings.Contains(d, `Project value: "db.local"`) {
		t.Errorf("host description %q", d)
	}
	b, _ := json.Marshal(reg)
	for _, secret := range []string{"MIIEvQ", "undeclared-SECRET", "d2pat-SECRET"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("%s leaked into the registration", secret)
		}
	}
	if ref := reg.Params["credential_warehouse"]; ref.Fields["ssl"] != "ssl" || ref.Key != "warehouse" {
		t.Errorf("param ref %+v", ref)
	}
}
