package daemon

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/console"
	"github.com/jobmediator/jobmediator/internal/redact"
	"github.com/jobmediator/jobmediator/internal/service"
	"github.com/jobmediator/jobmediator/internal/tlsreload"
	"github.com/jobmediator/jobmediator/notify"
	"github.com/jobmediator/jobmediator/runtime"
	"github.com/jobmediator/jobmediator/workflow"
)

// checkInbox refuses to start when a workflow's inbox (or notify
// webhook) names a credential that is missing or lacks its fields, and
// teaches the redactor every inbox secret (a field named `key` is not
// secret by its name).
func (d *Daemon) checkInbox() error {
	if errs := config.CheckSecurityCredentials(d.project, d.fileCred); len(errs) > 0 {
		return errs
	}
	coreCanProve := len(d.s.RouteAuth) > 0 || d.s.TLSClientCAFile != ""
	for _, wf := range d.project.Workflows {
		if len(wf.Options.Inbox) > 0 && d.s.Register && !coreCanProve {
			// Core's routed requests carry none of the inbox headers.
			d.log.WithField("workflow", wf.Key).Warn("this workflow has inbox methods, but OpenHIM core has no way to authenticate (JM_ROUTE_AUTH or TLS_CLIENT_CA_FILE): requests core routes to it will get 401")
		}
		for _, m := range wf.Options.Inbox {
			c, _ := d.fileCred.Get(m.Credential)
			for _, f := range config.InboxFields[m.Type] {
				if s, _ := c[f].(string); s != "" && f != "username" {
					d.red.AddValues(s)
				}
			}
		}
	}
	return nil
}

// buildNotifier assembles the notifier; it stays nil when no sink is
// configured.
func (d *Daemon) buildNotifier() error {
	n, err := newNotifier(d.s, d.project, d.fileCred, d.red, d.log, d.runsURL)
	if err != nil {
		return err
	}
	if n.Enabled() {
		d.notifier = n
	}
	return nil
}

// newNotifier builds the sinks (settings for all workflows, notify: in
// jobmediator.yaml per workflow) and teaches red their secrets.
func newNotifier(s config.Settings, p *config.Project, creds config.Credentials, red *redact.Redactor, log logrus.FieldLogger, runsURL func(string) string) (*notify.Notifier, error) {
	global, server, err := notify.GlobalConfig{
		WebhookURL: s.NotifyWebhookURL, WebhookSecret: s.NotifyWebhookSecret,
		SMTPURL: s.SMTPURL, SMTPCAFile: s.SMTPCAFile, EmailFrom: s.NotifyEmailFrom, EmailTo: s.NotifyEmailTo,
	}.Build()
	if err != nil {
		return nil, err
	}
	for _, v := range []string{s.NotifyWebhookURL, s.NotifyWebhookSecret, s.SMTPURL} {
		if v != "" {
			red.AddValues(v)
		}
	}
	if server != nil && server.Password != "" {
		red.AddValues(server.Password)
	}
	routes := map[string]notify.Route{}
	for _, wf := range p.Workflows {
		no := wf.Options.Notify
		r := notify.Route{PayloadExcerpt: no.PayloadExcerpt,
			Failing: notify.Threshold{Times: no.FailingTimes, Within: no.FailingWithin}}
		if no.Events != nil {
			r.Events = []notify.Kind{}
			for _, e := range no.Events {
				k, err := notify.ParseKind(e)
				if err != nil {
					return nil, fmt.Errorf("workflows.%s.notify: %v", wf.Key, err)
				}
				r.Events = append(r.Events, k)
			}
		}
		if len(no.Email) > 0 {
			if server == nil {
				return nil, fmt.Errorf("workflows.%s.notify.email needs a mail server: set JM_SMTP_URL (and JM_NOTIFY_EMAIL_FROM)", wf.Key)
			}
			e, err := notify.NewEmail(*server, s.NotifyEmailFrom, no.Email)
			if err != nil {
				return nil, fmt.Errorf("workflows.%s.notify.email: %v", wf.Key, err)
			}
			r.Sinks = append(r.Sinks, e)
		}
		if no.Webhook != "" {
			c, ok := creds.Get(no.Webhook)
			u, _ := c["url"].(string)
			if !ok || u == "" {
				return nil, fmt.Errorf("workflows.%s.notify.webhook: credential %q needs a url (and a secret to sign with)", wf.Key, no.Webhook)
			}
			secret, _ := c["secret"].(string)
			w, err := notify.NewWebhook(u, secret)
			if err != nil {
				return nil, fmt.Errorf("workflows.%s.notify.webhook (credential %s): %v", wf.Key, no.Webhook, err)
			}
			red.AddValues(u)
			if secret != "" {
				red.AddValues(secret)
			}
			r.Sinks = append(r.Sinks, w)
		}
		routes[wf.Key] = r
	}
	return notify.New(notify.Options{
		Sinks: global, Routes: routes, Window: s.NotifyWindow, Repeat: s.NotifyRepeat,
		Mediator: s.MediatorName, RunsURL: runsURL, Redactor: red, Logger: log,
	}), nil
}

// NotifyTest sends a test notification to every configured sink without
// starting a daemon (`jobmediator notify-test`: the store may be in use by
// the running one). It returns one result per sink; an error means the
// settings, project or sinks could not be read.
func NotifyTest(ctx context.Context, s config.Settings) ([]notify.TestResult, error) {
	if s.ProjectPath == "" {
		return nil, errors.New("no project: set --project PATH or JM_PROJECT (its jobmediator.yaml may name sinks)")
	}
	p, err := config.LoadProjectWith(s.ProjectPath, config.LoadOptions{OptionsPath: s.OptionsPath, ValidateAdaptor: validateAdaptor})
	if err != nil {
		return nil, fmt.Errorf("project %s is invalid:\n%w", s.ProjectPath, err)
	}
	creds := config.NewCredentials(p.InlineCredentials())
	if s.CredentialsPath != "" {
		file, err := config.LoadCredentials(s.CredentialsPath)
		if err != nil {
			return nil, err
		}
		creds = creds.Merge(file.Map())
	}
	red := redact.New(s.SensitiveKeys...)
	red.AddValues(creds.SecretValues(s.SensitiveKeys...)...)
	n, err := newNotifier(s, p, creds, red, nil, nil)
	if err != nil {
		return nil, err
	}
	if !n.Enabled() {
		return nil, errors.New("no notification sink is configured: set JM_NOTIFY_WEBHOOK_URL, or JM_SMTP_URL with JM_NOTIFY_EMAIL_FROM and JM_NOTIFY_EMAIL_TO (or notify: in jobmediator.yaml)")
	}
	return n.SendTest(ctx), nil
}

// publicURL is where people reach this mediator: JM_PUBLIC_URL, else this
// host and port.
func (d *Daemon) publicURL() string {
	if d.s.PublicURL != "" {
		return d.s.PublicURL
	}
	scheme := "http"
	if d.s.TLSCertFile != "" {
		scheme = "https"
	}
	host := d.s.RouteHost
	if host == "" {
		host, _ = os.Hostname()
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(d.s.ListenPort))
}

// runsURL links a workflow's runs in the console.
func (d *Daemon) runsURL(workflow string) string {
	return d.publicURL() + "/console/runs?workflow=" + url.QueryEscape(workflow)
}

// notifyObserver turns finished runs into notifications, then hands the
// run to the next observer (history, metrics).
type notifyObserver struct {
	d    *Daemon
	next workflow.Observer
}

func (o notifyObserver) RunFinished(ctx context.Context, rec workflow.RunRecord) {
	if n := o.d.notifier; n != nil && rec.Result != nil {
		if rec.Result.Status == runtime.StatusSuccess {
			n.RunSucceeded(rec.Workflow)
		} else {
			msg := "the run failed without an error message"
			if rec.Result.Error != nil {
				msg = rec.Result.Error.Message
			}
			if rec.Redactor != nil {
				msg = rec.Redactor.String(msg)
			}
			ev := notify.Event{Kind: notify.RunFailed, Workflow: rec.Workflow, Error: msg, RunID: rec.RunID, Time: rec.Finished, Payload: rec.Input}
			if o.d.retried(rec) {
				n.RunFailedRetrying(ev)
			} else {
				n.Report(ev)
			}
		}
	}
	if o.next != nil {
		o.next.RunFinished(ctx, rec)
	}
}

// retried reports whether our queue will try a failed run again: a
// transient failure of a request (or of its queued retry) with retries on
// and a store to keep them. The last attempt moves to the dead letters,
// which is its own event.
func (d *Daemon) retried(rec workflow.RunRecord) bool {
	res := rec.Result
	if res.Error == nil || !res.Error.Transient() || d.queue == nil || !d.queue.Durable() {
		return false
	}
	wf := d.project.Workflow(rec.Workflow)
	if wf == nil || wf.Options.Retry.MaxAttempts <= 0 {
		return false
	}
	switch rec.Trigger {
	case "cron", "polling", "manual":
		return false // scheduled runs wait for their next tick instead
	}
	return true
}

// deadLettered is the queue's Dead hook.
func (d *Daemon) deadLettered(workflow, reason string) {
	if d.notifier != nil {
		d.notifier.Report(notify.Event{Kind: notify.DeadLetter, Workflow: workflow, Error: d.red.String(reason)})
	}
}

// watchHealth reports OpenHIM registration and the store, and their
// recovery, until ctx ends. It looks as often as the heartbeat goes (at
// most every 15s, at least every second).
func (d *Daemon) watchHealth(ctx context.Context) {
	interval := min(max(d.s.HeartbeatInterval, time.Second), 15*time.Second)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.checkHealth(ctx)
	}
}

func (d *Daemon) checkHealth(ctx context.Context) {
	n := d.notifier
	if d.regr != nil {
		st := d.regr.Status()
		switch {
		case d.regr.Ready():
			n.Resolve(notify.OpenHIM, "")
		case st.Failures >= 2: // one failed heartbeat is noise; two in a row is not
			n.Report(notify.Event{Kind: notify.OpenHIM, Error: d.red.String("registration or heartbeat failing: " + st.LastError)})
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := d.store.Ping(pctx); err != nil {
		if ctx.Err() == nil {
			n.Report(notify.Event{Kind: notify.Store, Error: d.red.String(err.Error())})
		}
	} else {
		n.Resolve(notify.Store, "")
	}
}

// notifyServices are the notifier and its health watcher, when any sink is
// configured.
func (d *Daemon) notifyServices() []namedService {
	if d.notifier == nil {
		return nil
	}
	return []namedService{
		{"notifier", boundedStop{d.notifier, 15 * time.Second}},
		{"health watcher", &service.Func{Run: d.watchHealth}},
	}
}

// NotifySinks lists the notification sinks (for the console's settings
// page); nil when none are configured.
func (d *Daemon) NotifySinks() []notify.SinkInfo { return d.notifier.Sinks() }

// SendTestNotification sends a test message to every sink now and says
// how each went (`jobmediator notify-test`, the console's button).
func (d *Daemon) SendTestNotification(ctx context.Context) []notify.TestResult {
	return d.notifier.SendTest(ctx)
}

// notifySection is the console settings page's part about notifications:
// the sinks, and a button that sends a test message to each.
func (d *Daemon) notifySection() console.Section {
	return console.Section{
		Key: "notifications", Title: "Notifications",
		Render: func(_ context.Context, csrf string) (string, error) {
			sinks := d.NotifySinks()
			if len(sinks) == 0 {
				return "<p>No notification sink is configured. Set <code>JM_NOTIFY_WEBHOOK_URL</code>, or <code>JM_SMTP_URL</code> with " +
					"<code>JM_NOTIFY_EMAIL_FROM</code> and <code>JM_NOTIFY_EMAIL_TO</code>, or <code>notify:</code> in jobmediator.yaml " +
					"(docs/security.md).</p>", nil
			}
			var b strings.Builder
			b.WriteString("<table><thead><tr><th>sink</th><th>target</th><th>for</th></tr></thead><tbody>")
			for _, s := range sinks {
				scope := "all workflows, OpenHIM and the store"
				if len(s.Workflows) > 0 {
					scope = strings.Join(s.Workflows, ", ")
				}
				fmt.Fprintf(&b, "<tr><td>%s</td><td>%s</td><td>%s</td></tr>", html.EscapeString(s.Kind), html.EscapeString(s.Target), html.EscapeString(scope))
			}
			b.WriteString("</tbody></table>")
			fmt.Fprintf(&b, `<form method="post" action="/console/settings/notifications"><input type="hidden" name="csrf_token" value="%s"><button type="submit">Send a test notification</button></form>`, html.EscapeString(csrf))
			return b.String(), nil
		},
		Post: func(r *http.Request) (string, error) {
			if d.notifier == nil {
				return "", errors.New("no notification sink is configured")
			}
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
			defer cancel()
			var ok, failed []string
			for _, res := range d.SendTestNotification(ctx) {
				if res.Error != "" {
					failed = append(failed, res.Kind+" "+res.Target+": "+res.Error)
				} else {
					ok = append(ok, res.Kind+" "+res.Target)
				}
			}
			if len(failed) > 0 {
				return "", fmt.Errorf("test notification failed for %s (sent to %d other sinks)", strings.Join(failed, "; "), len(ok))
			}
			return "Test notification sent to " + strings.Join(ok, ", ") + ".", nil
		},
	}
}

// setupTLS loads the certificate files when HTTPS is configured.
func (d *Daemon) setupTLS() error {
	if d.s.TLSCertFile == "" {
		return nil
	}
	r, err := tlsreload.New(tlsreload.Files{Cert: d.s.TLSCertFile, Key: d.s.TLSKeyFile, ClientCA: d.s.TLSClientCAFile}, d.log)
	if err != nil {
		return err
	}
	d.tls = r
	return nil
}

// tlsService reloads the certificates on SIGHUP or change.
func (d *Daemon) tlsServices() []namedService {
	if d.tls == nil {
		return nil
	}
	return []namedService{{"certificate reloader", &service.Func{Run: func(ctx context.Context) { <-d.tls.Start(ctx, 0) }}}}
}

// boundedStop gives a service at most d to stop: a mail server that does
// not answer must not hold the shutdown (the notifier logs what it could
// not deliver).
type boundedStop struct {
	service.Service
	d time.Duration
}

func (b boundedStop) Stop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.d)
	defer cancel()
	return b.Service.Stop(ctx)
}
