package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/store"
)

// accountCases are the console's part of the contract (store.Accounts).
var accountCases = []struct {
	name string
	fn   func(t *testing.T, e *env)
}{
	{"Users", testUsers},
	{"Sessions", testSessions},
	{"Audit", testAudit},
	{"Orchestrations", testOrchestrations},
}

func testUsers(t *testing.T, e *env) {
	s, ctx := e.s, e.ctx
	if _, err := s.GetUser(ctx, "admin"); err == nil {
		t.Fatal("an empty store has a user")
	} else {
		wantErr(t, err, store.ErrNotFound)
	}
	if us, err := s.ListUsers(ctx); err != nil || len(us) != 0 {
		t.Fatalf("ListUsers on an empty store: %v %v", us, err)
	}
	u := &store.User{Username: "admin", PasswordHash: "$2a$10$hash", Role: store.RoleAdmin, Created: T0, Updated: T0}
	must(t, s.CreateUser(ctx, u))
	wantErr(t, s.CreateUser(ctx, &store.User{Username: "admin", PasswordHash: "x", Role: store.RoleViewer}), store.ErrDuplicate)
	for _, bad := range []*store.User{
		{Username: "", PasswordHash: "x", Role: store.RoleViewer},
		{Username: "has space", PasswordHash: "x", Role: store.RoleViewer},
		{Username: "bob", PasswordHash: "x", Role: "root"},
		{Username: "bob", PasswordHash: "", Role: store.RoleViewer},
	} {
		wantErr(t, s.CreateUser(ctx, bad), store.ErrInvalid)
	}
	must(t, s.CreateUser(ctx, &store.User{Username: "viewer1", PasswordHash: "h2", Role: store.RoleViewer, Created: T0, Updated: T0}))
	got, err := s.GetUser(ctx, "admin")
	must(t, err)
	if got.PasswordHash != u.PasswordHash || got.Role != store.RoleAdmin || !got.Created.Equal(T0) {
		t.Fatalf("GetUser = %+v", got)
	}
	got.Role = store.RoleOperator
	got.Updated = T0.Add(time.Minute)
	must(t, s.UpdateUser(ctx, got))
	wantErr(t, s.UpdateUser(ctx, &store.User{Username: "ghost", PasswordHash: "x", Role: store.RoleViewer}), store.ErrNotFound)
	e.reopen()
	s = e.s
	us, err := s.ListUsers(ctx)
	must(t, err)
	if len(us) != 2 || us[0].Username != "admin" || us[0].Role != store.RoleOperator || us[1].Username != "viewer1" {
		t.Fatalf("ListUsers after reopen = %+v", us)
	}
	must(t, s.CreateSession(ctx, &store.Session{ID: "s-v", Username: "viewer1", Expires: T0.Add(time.Hour)}))
	must(t, s.DeleteUser(ctx, "viewer1"))
	wantErr(t, s.DeleteUser(ctx, "viewer1"), store.ErrNotFound)
	if _, err := s.GetSession(ctx, "s-v", T0); err == nil {
		t.Fatal("a deleted user's session survived")
	}
}

func testSessions(t *testing.T, e *env) {
	s, ctx := e.s, e.ctx
	exp := T0.Add(time.Hour)
	must(t, s.CreateSession(ctx, &store.Session{ID: "h1", Username: "ann", CSRF: "tok1", Created: T0, Expires: exp, Addr: "10.0.0.1"}))
	must(t, s.CreateSession(ctx, &store.Session{ID: "h2", Username: "ann", CSRF: "tok2", Created: T0, Expires: T0.Add(time.Minute)}))
	must(t, s.CreateSession(ctx, &store.Session{ID: "h3", Username: "bob", CSRF: "tok3", Created: T0, Expires: exp}))
	wantErr(t, s.CreateSession(ctx, &store.Session{ID: "h1", Username: "x", Expires: exp}), store.ErrDuplicate)
	wantErr(t, s.CreateSession(ctx, &store.Session{ID: "h9", Username: "x"}), store.ErrInvalid)
	got, err := s.GetSession(ctx, "h1", T0)
	must(t, err)
	if got.Username != "ann" || got.CSRF != "tok1" || !got.Expires.Equal(exp) || got.Addr != "10.0.0.1" {
		t.Fatalf("GetSession = %+v", got)
	}
	// Expiry is the store's check too: an expired session is not found.
	_, err = s.GetSession(ctx, "h2", T0.Add(2*time.Minute))
	wantErr(t, err, store.ErrNotFound)
	_, err = s.GetSession(ctx, "nope", T0)
	wantErr(t, err, store.ErrNotFound)

	must(t, s.DeleteSession(ctx, "h3"))
	must(t, s.DeleteSession(ctx, "h3")) // gone already: no error
	_, err = s.GetSession(ctx, "h3", T0)
	wantErr(t, err, store.ErrNotFound)

	n, err := s.CullAccounts(ctx, T0.Add(2*time.Minute))
	must(t, err)
	if n != 1 {
		t.Fatalf("CullAccounts removed %d, want the 1 expired session", n)
	}
	n, err = s.DeleteUserSessions(ctx, "ann")
	must(t, err)
	if n != 1 {
		t.Fatalf("DeleteUserSessions = %d, want 1 (h1; h2 was culled)", n)
	}
	_, err = s.GetSession(ctx, "h1", T0)
	wantErr(t, err, store.ErrNotFound)
}

func testAudit(t *testing.T, e *env) {
	s, ctx := e.s, e.ctx
	wantErr(t, s.AppendAudit(ctx, &store.AuditEntry{Action: "x"}), store.ErrInvalid)
	var ids []string
	for i := 0; i < 5; i++ {
		en := &store.AuditEntry{Time: T0.Add(time.Duration(i) * time.Second), Actor: "admin", Action: "run.start",
			Target: "wf", Detail: "password " + secret, Addr: "127.0.0.1", OK: true}
		must(t, s.AppendAudit(ctx, en))
		if en.ID == "" {
			t.Fatal("AppendAudit left the ID empty")
		}
		ids = append(ids, en.ID)
	}
	page, err := s.ListAudit(ctx, store.AuditFilter{Limit: 3})
	must(t, err)
	if len(page) != 3 || page[0].ID != ids[4] || page[2].ID != ids[2] {
		t.Fatalf("first page: %v", auditIDs(page))
	}
	if strings.Contains(page[0].Detail, secret) || !page[0].OK || page[0].Actor != "admin" || page[0].Addr != "127.0.0.1" {
		t.Fatalf("entry = %+v (secrets must be redacted)", page[0])
	}
	page, err = s.ListAudit(ctx, store.AuditFilter{Limit: 3, Before: page[2].ID})
	must(t, err)
	if len(page) != 2 || page[0].ID != ids[1] || page[1].ID != ids[0] {
		t.Fatalf("second page: %v", auditIDs(page))
	}
	_, err = s.ListAudit(ctx, store.AuditFilter{Before: "no-such-entry"})
	wantErr(t, err, store.ErrNotFound)
}

func auditIDs(es []*store.AuditEntry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.ID)
	}
	return out
}

func testOrchestrations(t *testing.T, e *env) {
	s, ctx := e.s, e.ctx
	must(t, s.CreateRun(ctx, sampleRun("r1", "wf", T0)))
	none, err := s.Orchestrations(ctx, "r1")
	must(t, err)
	if len(none) != 0 {
		t.Fatalf("orchestrations before any: %v", none)
	}
	o := []store.Orchestration{{
		Name: "POST dhis2", Step: "s1", Method: "POST", URL: "https://user:" + secret + "@dhis2.example/api",
		RequestHeaders: map[string]string{"Authorization": "Basic abc", "Content-Type": "application/json"},
		RequestBody:    `{"password":"` + secret + `"}`, RequestTime: T0,
		Status: 500, ResponseBody: "boom", ResponseTime: T0.Add(time.Second),
	}}
	must(t, s.PutOrchestrations(ctx, "r1", o))
	must(t, s.PutOrchestrations(ctx, "orphan", o))
	got, err := s.Orchestrations(ctx, "r1")
	must(t, err)
	if len(got) != 1 || got[0].Status != 500 || got[0].Method != "POST" || got[0].ResponseBody != "boom" ||
		!got[0].ResponseTime.Equal(T0.Add(time.Second)) || got[0].RequestHeaders["Content-Type"] != "application/json" {
		t.Fatalf("Orchestrations = %+v", got)
	}
	all := got[0].URL + got[0].RequestBody + got[0].RequestHeaders["Authorization"]
	if strings.Contains(all, secret) || strings.Contains(all, "abc") {
		t.Fatalf("orchestration not redacted: %+v", got[0])
	}
	// The orphan (its run is not in the history) is culled; r1's stay.
	_, err = s.CullAccounts(ctx, T0)
	must(t, err)
	if got, _ := s.Orchestrations(ctx, "orphan"); len(got) != 0 {
		t.Fatal("orphaned orchestrations survived CullAccounts")
	}
	if got, _ := s.Orchestrations(ctx, "r1"); len(got) != 1 {
		t.Fatal("CullAccounts removed a live run's orchestrations")
	}
}
