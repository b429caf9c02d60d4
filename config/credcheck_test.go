package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jobmediator/jobmediator/adaptors/all" // the credential specs
)

const credCheckProject = `name: p
credentials:
  db: {name: db, owner: a@b.c}
  api: {name: api, owner: a@b.c}
  shared: {name: shared, owner: a@b.c}
workflows:
  wf:
    name: wf
    jobs:
      load:
        adaptor: '@openfn/language-postgresql@4'
        credential: db
        body: sql('select 1');
      call:
        adaptor: '@openfn/language-dhis2@7'
        credential: api
        body: |
          get('dataElements', {orgUnit: $.configuration.districtCode});
      both-http:
        adaptor: '@openfn/language-http@7'
        credential: shared
        body: get('/x');
      both-dhis2:
        adaptor: '@openfn/language-dhis2@7'
        credential: shared
        body: get('y');
    triggers:
      webhook: {type: webhook, enabled: true}
    edges:
      webhook->load: {source_trigger: webhook, target_job: load, condition_type: always, enabled: true}
      load->call: {source_job: load, target_job: call, condition_type: always, enabled: true}
      call->both-http: {source_job: call, target_job: both-http, condition_type: always, enabled: true}
      both-http->both-dhis2: {source_job: both-http, target_job: both-dhis2, condition_type: always, enabled: true}
`

// check holds credential values against the adaptors' declared fields
// (package spec), never quoting a value.
func TestCheckCredentialFieldsAgainstSpecs(t *testing.T) {
	for _, c := range []struct {
		name       string
		creds      string
		errs       []string // substrings, one per expected error
		warns      []string // substrings, one per expected warning
		notSecrets bool
	}{
		{name: "all good",
			creds: `db: {host: h, port: 5432, database: d, user: u, password: s3cr3t-db}
api: {hostUrl: http://d, pat: s3cr3t-pat, districtCode: X}
shared: {baseUrl: http://d, hostUrl: http://d, username: u, password: s3cr3t-p}`},
		{name: "wrong types are errors",
			creds: `db: {host: h, port: five-four-three-two, database: d, user: u, ssl: {on: true}}
api: {hostUrl: http://d, pat: s3cr3t-pat}
shared: {hostUrl: http://d, username: u, password: s3cr3t-p}`,
			errs: []string{`db.port: port of credential "db" is text that is not a number`, `db.ssl: ssl of credential "db" is an object`}},
		{name: "unknown field, with a suggestion",
			creds: `db: {host: h, database: d, user: u, pasword: s3cr3t-db}
api: {hostUrl: http://d, pat: s3cr3t-pat}
shared: {hostUrl: http://d, username: u, password: s3cr3t-p}`,
			warns: []string{`db.pasword: credential "db" has field pasword, which the postgresql adaptor does not read (fix: did you mean "password"?`}},
		{name: "missing required and no auth",
			creds: `db: {host: h, user: u}
api: {apiUrl: http://d, username: u}
shared: {hostUrl: http://d, pat: s3cr3t-pat}`,
			warns: []string{`credential "db" lacks database, which the postgresql adaptor needs`,
				`credential "api" has none of pat or username + password, one of which the dhis2 adaptor needs`}},
		{name: "a field one of two adaptors reads is known",
			creds: `db: {host: h, database: d, user: u}
api: {hostUrl: http://d, pat: s3cr3t-pat}
shared: {baseUrl: http://d, hostUrl: http://d, pat: s3cr3t-pat, access_token: s3cr3t-tok}`},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			pp, cp := filepath.Join(dir, "project.yaml"), filepath.Join(dir, "credentials.yaml")
			if err := os.WriteFile(pp, []byte(credCheckProject), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cp, []byte(c.creds), 0o644); err != nil {
				t.Fatal(err)
			}
			s := DefaultSettings()
			s.ProjectPath, s.CredentialsPath, s.DataDir = pp, cp, dir
			r := Check(s, nil, nil)
			match := func(kind string, got ValidationErrors, want []string) {
				if len(got) != len(want) {
					t.Errorf("%s: got %d, want %d:\n%v", kind, len(got), len(want), got)
					return
				}
				for i, w := range want {
					if !strings.Contains(got[i].Error(), w) {
						t.Errorf("%s %d = %q, want it to contain %q", kind, i, got[i].Error(), w)
					}
				}
			}
			match("errors", r.Errors, c.errs)
			match("warnings", r.Warnings, c.warns)
			all := r.Errors.Error() + r.Warnings.Error()
			for _, secret := range []string{"s3cr3t", "five-four"} {
				if strings.Contains(all, secret) {
					t.Errorf("a value leaked into the report: %s", all)
				}
			}
		})
	}
}
