package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/jobmediator/jobmediator/internal/apijson"

	"github.com/gorilla/mux"
	"golang.org/x/crypto/bcrypt"

	"github.com/jobmediator/jobmediator/store"
)

// trustedHTML marks our own packages' markup (console sections), never user
// input, as safe.
func trustedHTML(s string) template.HTML { return template.HTML(s) } //nolint:gosec // G203: see above

func bcryptCheck(hash, password string) error {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
}

func (c *Console) apiMe(w http.ResponseWriter, r *http.Request) {
	p := who(r)
	out := map[string]any{"username": p.User, "role": p.Role}
	if p.Session != nil {
		out["expires"] = p.Session.Expires
	}
	apijson.Write(w, http.StatusOK, out)
}

// userView never carries the hash.
type userView struct {
	Username string     `json:"username"`
	Role     store.Role `json:"role"`
	Created  time.Time  `json:"created"`
	Updated  time.Time  `json:"updated"`
}

func (c *Console) apiUsers(w http.ResponseWriter, r *http.Request) {
	users, err := c.o.Store.ListUsers(r.Context())
	if err != nil {
		apijson.Error(w, http.StatusServiceUnavailable, "reading users: "+c.o.Redactor.String(err.Error()))
		return
	}
	out := []userView{}
	for _, u := range users {
		out = append(out, userView{u.Username, u.Role, u.Created, u.Updated})
	}
	apijson.Write(w, http.StatusOK, map[string]any{"users": out})
}

func (c *Console) apiCreateUser(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Username string     `json:"username"`
		Password string     `json:"password"`
		Role     store.Role `json:"role"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		apijson.Error(w, http.StatusBadRequest, `body must be {"username","password","role"}: `+err.Error())
		return
	}
	if err := c.createUser(r, in.Username, in.Password, in.Role); err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, store.ErrDuplicate) || fmt.Sprint(err) == "user "+in.Username+" exists already" {
			status = http.StatusConflict
		}
		apijson.Error(w, status, err.Error())
		return
	}
	apijson.Write(w, http.StatusCreated, map[string]any{"username": in.Username, "role": in.Role})
}

func (c *Console) apiDeleteUser(w http.ResponseWriter, r *http.Request) {
	name := mux.Vars(r)["name"]
	err := c.deleteUser(r, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		apijson.Error(w, http.StatusNotFound, "no user "+name)
	case err != nil:
		apijson.Error(w, http.StatusBadRequest, err.Error())
	default:
		apijson.Write(w, http.StatusOK, map[string]any{"deleted": name})
	}
}

func (c *Console) apiAudit(w http.ResponseWriter, r *http.Request) {
	entries, err := c.o.Store.ListAudit(r.Context(), store.AuditFilter{Limit: 100, Before: r.URL.Query().Get("before")})
	if errors.Is(err, store.ErrNotFound) {
		apijson.Error(w, http.StatusBadRequest, "before names no audit entry")
		return
	}
	if err != nil {
		apijson.Error(w, http.StatusServiceUnavailable, "reading the audit log: "+c.o.Redactor.String(err.Error()))
		return
	}
	if entries == nil {
		entries = []*store.AuditEntry{}
	}
	apijson.Write(w, http.StatusOK, map[string]any{"audit": entries})
}

// events is the live-refresh stream: one `change` event whenever the
// newest run, the queue or the dead letters change (checked every second,
// so runs of every replica are seen), plus a comment every 15 s to keep
// proxies from closing the connection.
func (c *Console) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 3000\n\n")
	fl.Flush()
	last := ""
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	idle := 0
	for {
		state := c.fingerprint(r.Context())
		if state != last && state != "" {
			if last != "" {
				fmt.Fprintf(w, "event: change\ndata: %s\n\n", state)
				fl.Flush()
			}
			last = state
			idle = 0
		} else if idle++; idle >= 15 {
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
			idle = 0
		}
		select {
		case <-r.Context().Done():
			return
		case <-c.closing:
			return
		case <-tick.C:
		}
	}
}

// fingerprint names the current state of what the pages show live.
func (c *Console) fingerprint(ctx context.Context) string {
	top, err := c.newestRun(ctx)
	if err != nil {
		return ""
	}
	q, err := c.o.Store.CountQueue(ctx)
	if err != nil {
		return ""
	}
	return fmt.Sprintf("%s.%d.%d", top, q.Pending, q.Dead)
}

// newestRun names the newest run in the history and its status.
func (c *Console) newestRun(ctx context.Context) (string, error) {
	runs, err := c.o.Store.ListRuns(ctx, store.RunFilter{Limit: 1})
	if err != nil || len(runs) == 0 {
		return "none", err
	}
	return runs[0].ID + "." + string(runs[0].Status), nil
}
