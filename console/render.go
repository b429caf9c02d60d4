package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jobmediator/jobmediator/config"
	"github.com/jobmediator/jobmediator/store"
)

type pageTemplate = template.Template

var funcs = template.FuncMap{
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"dur": func(a, b time.Time) string {
		if a.IsZero() || b.IsZero() {
			return ""
		}
		d := b.Sub(a)
		if d < time.Second {
			return fmt.Sprintf("%d ms", d.Milliseconds())
		}
		return d.Round(10 * time.Millisecond).String()
	},
	"pretty": prettyJSON,
	"q":      urlQueryEscape,
	"can":    func(p *principal, role string) bool { return p.can(store.Role(role)) },
	"add":    func(a, b int) int { return a + b },
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }

func prettyJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return string(raw)
	}
	return buf.String()
}

// parseTemplates builds one template set per page: layout plus the page.
func parseTemplates() (map[string]*pageTemplate, error) {
	entries, err := templateFS.ReadDir("templates")
	if err != nil {
		return nil, err
	}
	out := map[string]*pageTemplate{}
	for _, e := range entries {
		name := strings.TrimSuffix(e.Name(), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+e.Name())
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", e.Name(), err)
		}
		out[name] = t
	}
	return out, nil
}

// view is what every page template receives.
type view struct {
	Title   string
	Nav     string
	Who     *principal
	CSRF    string
	Flash   string
	Error   string
	Live    bool
	Version string
	Data    any
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, page string, v view) {
	v.Who = who(r)
	if v.Who != nil && v.Who.Session != nil {
		v.CSRF = v.Who.Session.CSRF
	}
	if ck, err := r.Cookie(flashCookie); err == nil && v.Flash == "" {
		v.Flash, _ = url.QueryUnescape(ck.Value)
		http.SetCookie(w, &http.Cookie{Name: flashCookie, Path: "/console/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil}) //nolint:gosec // G124: Secure follows the request's TLS; clearing carries no value
	}
	t := c.pages[page]
	var buf bytes.Buffer
	if err := t.Execute(&buf, v); err != nil {
		c.o.Logger.WithError(err).WithField("page", page).Error("console: rendering failed")
		http.Error(w, "rendering the page failed", http.StatusInternalServerError)
		return
	}
	securityHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (c *Console) fail(w http.ResponseWriter, r *http.Request, status int, msg string) {
	c.render(w, r, status, "error", view{Title: http.StatusText(status), Error: msg})
}

// flashCookie carries a message from a POST to the page it redirects to.
// A cookie, not a query parameter, so nobody can put words on a console
// page with a crafted link.
const flashCookie = "jm_flash"

// redirect after a POST, with a message for the next page.
func redirect(w http.ResponseWriter, r *http.Request, to, flash string) {
	if flash != "" {
		http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: url.QueryEscape(flash), Path: "/console/", //nolint:gosec // G124: Secure follows the request's TLS, so a plain-HTTP console on loopback works; the value is a page message, not a credential
			MaxAge: 60, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: r.TLS != nil})
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// switches are the console's pause switches, kept in the store as cursors
// (`console/paused/<workflow>`) so they survive restarts and every replica
// sees them; read from memory, refreshed on every change.
type switches struct {
	st store.Store
	mu sync.RWMutex
	on map[string]bool
}

func pauseKey(wf string) string { return "console/paused/" + wf }

func (s *switches) load(ctx context.Context, p *config.Project) error {
	m := map[string]bool{}
	for _, wf := range p.Workflows {
		c, err := s.st.GetCursor(ctx, pauseKey(wf.Key))
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("console: reading pause switches: %w", err)
		}
		m[wf.Key] = string(c.Value) == "true"
	}
	s.mu.Lock()
	s.on = m
	s.mu.Unlock()
	return nil
}

func (s *switches) paused(wf string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.on[wf]
}

func (s *switches) set(ctx context.Context, wf string, paused bool, now time.Time) error {
	val := json.RawMessage("false")
	if paused {
		val = json.RawMessage("true")
	}
	for attempt := 0; attempt < 5; attempt++ {
		cur := &store.Cursor{Key: pauseKey(wf), Value: val, Updated: now}
		if old, err := s.st.GetCursor(ctx, cur.Key); err == nil {
			cur.Version = old.Version
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		err := s.st.PutCursor(ctx, cur)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return err
		}
		s.mu.Lock()
		if s.on == nil {
			s.on = map[string]bool{}
		}
		s.on[wf] = paused
		s.mu.Unlock()
		return nil
	}
	return errors.New("console: the pause switch kept changing under us; try again")
}
