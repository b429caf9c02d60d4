package mediator

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestChannelIDs(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/channels" || r.Header.Get("Authorization") == "" {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		w.Write([]byte(`[{"_id":"5f0000000000000000000001","name":"Job Mediator – a"},{"_id":"5f0000000000000000000002","name":"other"}]`))
	}))
	defer srv.Close()
	c, err := NewClient(ClientOptions{APIURL: srv.URL, Username: "root@openhim.org", Password: "pw-secret-1", AuthMode: "basic"})
	if err != nil {
		t.Fatal(err)
	}
	ids, err := c.ChannelIDs(context.Background())
	if err != nil || ids["Job Mediator – a"] != "5f0000000000000000000001" || len(ids) != 2 {
		t.Fatalf("%v %v", ids, err)
	}
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"not":"a list"}`)) }))
	defer bad.Close()
	c2, _ := NewClient(ClientOptions{APIURL: bad.URL, Username: "root@openhim.org", Password: "pw-secret-1", AuthMode: "basic"})
	if _, err := c2.ChannelIDs(context.Background()); err == nil || !strings.Contains(err.Error(), "not a JSON array") || strings.Contains(err.Error(), "pw-secret-1") {
		t.Fatalf("want a clear error without secrets, got %v", err)
	}
}
