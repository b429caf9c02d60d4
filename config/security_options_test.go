package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func loadOptionsText(t *testing.T, text string) (*MediatorOptions, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "jobmediator.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return LoadMediatorOptions(p)
}

func TestSecurityOptions(t *testing.T) {
	mo, err := loadOptionsText(t, `workflows:
  intake:
    inbox:
      - {type: api_key, credential: key-2026}
      - {type: api_key, credential: key-2025}
      - {type: basic, credential: login}
      - {type: hmac, credential: signer, timestamp_header: X-Timestamp, tolerance: 2m}
    rate_limit: {requests: 60, per: 1m, burst: 10}
    notify:
      events: [run_failed, failing]
      failing: {times: 3, within: 5m}
      email: [ops@example.org, "On Call <oncall@example.org>"]
      webhook: partner-alerts
      payload_excerpt: true
  quiet:
    notify: {events: []}
`)
	if err != nil {
		t.Fatal(err)
	}
	o := mo.Workflows[0].Options
	wantInbox := []InboxMethod{
		{Type: "api_key", Credential: "key-2026"}, {Type: "api_key", Credential: "key-2025"},
		{Type: "basic", Credential: "login"},
		{Type: "hmac", Credential: "signer", TimestampHeader: "X-Timestamp", Tolerance: 2 * time.Minute},
	}
	if !reflect.DeepEqual(o.Inbox, wantInbox) {
		t.Errorf("inbox = %+v", o.Inbox)
	}
	if o.RateLimit != (RateLimit{Requests: 60, Per: time.Minute, Burst: 10}) {
		t.Errorf("rate_limit = %+v", o.RateLimit)
	}
	wantNotify := NotifyOptions{Events: []string{"run_failed", "failing"}, FailingTimes: 3, FailingWithin: 5 * time.Minute,
		Email: []string{"ops@example.org", "On Call <oncall@example.org>"}, Webhook: "partner-alerts", PayloadExcerpt: true}
	if !reflect.DeepEqual(o.Notify, wantNotify) {
		t.Errorf("notify = %+v", o.Notify)
	}
	if q := mo.Workflows[1].Options.Notify; q.Events == nil || len(q.Events) != 0 {
		t.Errorf("events: [] must mean none, got %#v", q.Events)
	}
}

func TestSecurityOptionErrors(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{`inbox: {type: api_key}`, "want a list"},
		{`inbox: [{type: token, credential: k}]`, `unknown inbox method "token"`},
		{`inbox: [{type: api_key}]`, "no credential named"},
		{`inbox: [{type: api_key, credential: k, tolerance: 1m}]`, "hmac only"},
		{`inbox: [{type: hmac, credential: k, tolerance: 1m}]`, "needs a timestamp_header"},
		{`inbox: [{type: hmac, credential: k, secret: x}]`, "unknown key"},
		{`rate_limit: {per: 1m}`, "without requests"},
		{`rate_limit: {requests: 0}`, "≥ 1"},
		{`notify: {events: [run_failed, exploded]}`, `unknown event "exploded"`},
		{`notify: {email: [not-an-address]}`, "not a mail address"},
		{`notify: {failing: {times: 0}}`, "≥ 1"},
		{`notify: {sms: "+855"}`, "unknown key"},
	}
	for _, c := range cases {
		_, err := loadOptionsText(t, "workflows:\n  w:\n    "+c.yaml+"\n")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.yaml, err, c.want)
		}
	}
}

func TestCheckSecurityCredentials(t *testing.T) {
	p := &Project{OptionsPath: "jobmediator.yaml", Workflows: []*Workflow{{Key: "intake", Options: WorkflowOptions{
		Inbox: []InboxMethod{
			{Type: InboxAPIKey, Credential: "good-key"}, {Type: InboxAPIKey, Credential: "missing"},
			{Type: InboxBasic, Credential: "half-login"}, {Type: InboxHMAC, Credential: "good-key"},
		},
		Notify: NotifyOptions{Webhook: "no-url"},
	}}}}
	creds := NewCredentials(map[string]map[string]any{
		"good-key":   {"key": "k-123456"},
		"half-login": {"username": "u"},
		"no-url":     {"secret": "s3cret-value"},
	})
	errs := CheckSecurityCredentials(p, creds)
	var got []string
	for _, e := range errs {
		got = append(got, e.Field+": "+e.Message)
	}
	want := []string{
		`workflows.intake.inbox[1]: credential "missing" is not in the credentials file`,
		`workflows.intake.inbox[2]: credential "half-login" has no password for basic`,
		`workflows.intake.inbox[3]: credential "good-key" has no secret for hmac`,
		`workflows.intake.notify.webhook: credential "no-url" has no url`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if strings.Contains(errs.Error(), "k-123456") || strings.Contains(errs.Error(), "s3cret-value") {
		t.Error("a check error shows a credential value")
	}
}
