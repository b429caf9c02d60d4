package config

import (
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Per-workflow security and alerting options of jobmediator.yaml:
//
//	workflows:
//	  partner-intake:
//	    inbox:                          # who may call the endpoint directly
//	      - {type: api_key, credential: partner-key-2026}   # field key, header x-api-key
//	      - {type: api_key, credential: partner-key-2025}   # rotation: both pass
//	      - {type: basic, credential: partner-login}        # fields username, password
//	      - {type: hmac, credential: partner-hmac, timestamp_header: X-Timestamp, tolerance: 5m}
//	    rate_limit: {requests: 60, per: 1m, burst: 10}      # per client (key or address)
//	    notify:
//	      events: [run_failed, dead_letter, failing]
//	      failing: {times: 5, within: 10m}
//	      email: [ops@example.org]      # besides JM_NOTIFY_EMAIL_TO
//	      webhook: partner-alerts       # credential with url and secret
//	      payload_excerpt: false        # true adds a redacted excerpt of the input
//
// Secret values live in the credentials file (and the OpenHIM console),
// never here: an inbox entry and a notify webhook name a credential.

// Inbox method types.
const (
	InboxAPIKey = "api_key"
	InboxBasic  = "basic"
	InboxHMAC   = "hmac"
)

// InboxMethod is one `inbox:` entry.
type InboxMethod struct {
	Type       string
	Credential string
	// TimestampHeader and Tolerance (hmac): the signature covers
	// "<timestamp>.<body>" and stale or future timestamps are refused.
	TimestampHeader string
	Tolerance       time.Duration
}

// InboxFields are the credential fields each method reads.
var InboxFields = map[string][]string{
	InboxAPIKey: {"key"},
	InboxBasic:  {"username", "password"},
	InboxHMAC:   {"secret"},
}

// RateLimit throttles each client of a workflow endpoint; zero Requests
// means no limit.
type RateLimit struct {
	Requests int
	Per      time.Duration
	Burst    int
}

// NotifyOptions is a workflow's `notify:`.
type NotifyOptions struct {
	// Events notified; nil means the default (run_failed, dead_letter),
	// empty means none.
	Events         []string
	FailingTimes   int
	FailingWithin  time.Duration
	Email          []string // extra recipients
	Webhook        string   // credential with url and secret
	PayloadExcerpt bool
}

// NotifyEvents are the per-workflow events `notify: {events: […]}` takes.
var NotifyEvents = []string{"run_failed", "dead_letter", "failing"}

var (
	inboxKeys     = []string{"type", "credential", "timestamp_header", "tolerance"}
	rateLimitKeys = []string{"requests", "per", "burst"}
	notifyKeys    = []string{"events", "failing", "email", "webhook", "payload_excerpt"}
	failingKeys   = []string{"times", "within"}
)

// readInbox reads `inbox:`, a list of {type, credential}.
func readInbox(c *collector, n *yaml.Node, line int, field string, o *WorkflowOptions) bool {
	n = deref(n)
	if isNull(n) {
		return true
	}
	if n.Kind != yaml.SequenceNode {
		c.add(line, field, "want a list of {type, credential}, got "+kindName(n), "write `- {type: api_key, credential: partner-key}`")
		return false
	}
	o.Inbox = nil
	for i, e := range n.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		pairs, ok := c.mapping(e, f)
		if !ok {
			continue
		}
		c.checkKeys(pairs, f, inboxKeys, true)
		var m InboxMethod
		for _, p := range pairs {
			pf := join(f, p.Key)
			switch p.Key {
			case "type":
				m.Type, _ = c.str(p.Val, pf)
			case "credential":
				m.Credential, _ = c.str(p.Val, pf)
			case "timestamp_header":
				m.TimestampHeader, _ = c.str(p.Val, pf)
			case "tolerance":
				m.Tolerance, _ = c.duration(p.Val, p.Line, pf)
			}
		}
		el := deref(e).Line
		if _, known := InboxFields[m.Type]; !known {
			c.add(el, join(f, "type"), fmt.Sprintf("unknown inbox method %q", m.Type), "use api_key, basic or hmac")
			continue
		}
		if strings.TrimSpace(m.Credential) == "" {
			c.add(el, join(f, "credential"), "no credential named", fmt.Sprintf("name an entry of the credentials file with %s", strings.Join(InboxFields[m.Type], " and ")))
			continue
		}
		if m.Type != InboxHMAC && (m.TimestampHeader != "" || m.Tolerance != 0) {
			c.add(el, f, "timestamp_header and tolerance apply to hmac only", "remove them, or use type: hmac")
		}
		if m.Tolerance != 0 && m.TimestampHeader == "" {
			c.add(el, join(f, "tolerance"), "a tolerance needs a timestamp_header", "add e.g. timestamp_header: X-Timestamp")
		}
		o.Inbox = append(o.Inbox, m)
	}
	return true
}

// readRateLimit reads `rate_limit: {requests, per, burst}`.
func readRateLimit(c *collector, n *yaml.Node, line int, field string, o *WorkflowOptions) bool {
	pairs, ok := c.mapping(n, field)
	if !ok {
		return false
	}
	c.checkKeys(pairs, field, rateLimitKeys, true)
	rl := RateLimit{Per: time.Minute}
	for _, p := range pairs {
		pf := join(field, p.Key)
		switch p.Key {
		case "requests", "burst":
			s, _ := c.str(p.Val, pf)
			v, err := strconv.Atoi(s)
			if err != nil || v < 1 {
				c.add(p.Line, pf, p.Key+" must be a whole number ≥ 1", "write e.g. 60")
				continue
			}
			if p.Key == "requests" {
				rl.Requests = v
			} else {
				rl.Burst = v
			}
		case "per":
			if d, ok := c.duration(p.Val, p.Line, pf); ok {
				if d <= 0 {
					c.add(p.Line, pf, "per must be positive", "write e.g. 1m")
					continue
				}
				rl.Per = d
			}
		}
	}
	if rl.Requests == 0 {
		c.add(line, field, "rate_limit without requests", "write e.g. `rate_limit: {requests: 60, per: 1m}`")
		return false
	}
	o.RateLimit = rl
	return true
}

// readNotify reads `notify:`.
func readNotify(c *collector, n *yaml.Node, line int, field string, o *WorkflowOptions) bool {
	pairs, ok := c.mapping(n, field)
	if !ok {
		return false
	}
	c.checkKeys(pairs, field, notifyKeys, true)
	var no NotifyOptions
	for _, p := range pairs {
		pf := join(field, p.Key)
		switch p.Key {
		case "events":
			no.Events = []string{}
			for _, e := range c.strList(p.Val, pf) {
				if !contains(NotifyEvents, e) {
					c.add(p.Line, pf, fmt.Sprintf("unknown event %q", e), "use "+strings.Join(NotifyEvents, ", ")+" ([] for none)")
					continue
				}
				no.Events = append(no.Events, e)
			}
		case "failing":
			fp, _ := c.mapping(p.Val, pf)
			c.checkKeys(fp, pf, failingKeys, true)
			for _, q := range fp {
				qf := join(pf, q.Key)
				switch q.Key {
				case "times":
					s, _ := c.str(q.Val, qf)
					v, err := strconv.Atoi(s)
					if err != nil || v < 1 {
						c.add(q.Line, qf, "times must be a whole number ≥ 1", "write e.g. 5")
						continue
					}
					no.FailingTimes = v
				case "within":
					if d, ok := c.duration(q.Val, q.Line, qf); ok && d > 0 {
						no.FailingWithin = d
					} else if ok {
						c.add(q.Line, qf, "within must be positive", "write e.g. 10m")
					}
				}
			}
		case "email":
			for _, a := range c.strList(p.Val, pf) {
				if _, err := mail.ParseAddress(a); err != nil {
					c.add(p.Line, pf, fmt.Sprintf("%q is not a mail address", a), "write e.g. ops@example.org")
					continue
				}
				no.Email = append(no.Email, a)
			}
		case "webhook":
			no.Webhook, _ = c.str(p.Val, pf)
		case "payload_excerpt":
			no.PayloadExcerpt = c.boolean(p.Val, pf, false)
		}
	}
	o.Notify = no
	return true
}

// CheckSecurityCredentials reports `inbox:` entries and `notify.webhook`
// naming a credential that is missing or lacks its fields: an endpoint
// nobody could call (or one a blank key would open), a sink that cannot
// send. Never a value.
func CheckSecurityCredentials(p *Project, creds Credentials) ValidationErrors {
	var errs ValidationErrors
	bad := func(field, msg, fix string) {
		errs = append(errs, ValidationError{File: p.OptionsPath, Field: field, Message: msg, Fix: fix})
	}
	has := func(c map[string]any, f string) bool { s, _ := c[f].(string); return s != "" }
	for _, wf := range p.Workflows {
		for i, m := range wf.Options.Inbox {
			field := fmt.Sprintf("workflows.%s.inbox[%d]", wf.Key, i)
			want := strings.Join(InboxFields[m.Type], ", ")
			c, ok := creds.Get(m.Credential)
			if !ok {
				bad(field, fmt.Sprintf("credential %q is not in the credentials file", m.Credential), fmt.Sprintf("add `%s: {%s}` to the credentials file", m.Credential, want))
				continue
			}
			for _, f := range InboxFields[m.Type] {
				if !has(c, f) {
					bad(field, fmt.Sprintf("credential %q has no %s for %s", m.Credential, f, m.Type), fmt.Sprintf("give %s the fields %s", m.Credential, want))
				}
			}
		}
		if name := wf.Options.Notify.Webhook; name != "" {
			if c, ok := creds.Get(name); !ok || !has(c, "url") {
				bad(fmt.Sprintf("workflows.%s.notify.webhook", wf.Key), fmt.Sprintf("credential %q has no url", name),
					fmt.Sprintf("add `%s: {url: https://…, secret: …}` to the credentials file", name))
			}
		}
	}
	return errs
}
