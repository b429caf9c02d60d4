package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jobmediator/jobmediator/store"
)

func TestConfigFromEnv(t *testing.T) {
	cases := []struct {
		name string
		cfg  store.Config
		env  map[string]string
		want store.Config
	}{
		{"MONGO_URL", store.Config{}, map[string]string{"MONGO_URL": "mongodb://a/", "MONGODB_CONNECTION_STRING": "mongodb://b/"},
			store.Config{MongoURL: "mongodb://a/"}},
		{"fallback spelling", store.Config{}, map[string]string{"MONGODB_CONNECTION_STRING": " mongodb://b/ "},
			store.Config{MongoURL: "mongodb://b/"}},
		{"explicit wins", store.Config{MongoURL: "mongodb://x/", DataDir: "/d"}, map[string]string{"MONGO_URL": "mongodb://a/", "JM_DATA_DIR": "/e"},
			store.Config{MongoURL: "mongodb://x/", DataDir: "/d"}},
		{"data dir and database", store.Config{}, map[string]string{"JM_DATA_DIR": "/var/lib/jm", "MONGO_DATABASE": "jm2"},
			store.Config{DataDir: "/var/lib/jm", Database: "jm2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.cfg.FromEnv(func(k string) string { return c.env[k] })
			if got.MongoURL != c.want.MongoURL || got.DataDir != c.want.DataDir || got.Database != c.want.Database {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestDescribeHidesPassword(t *testing.T) {
	cases := []struct {
		cfg  store.Config
		want string
	}{
		{store.Config{MongoURL: "mongodb://jm:s3cretpw@db:27017/openhim?authSource=admin"}, "mongo mongodb://jm:***@db:27017/openhim?authSource=admin database openhim"},
		{store.Config{MongoURL: "mongodb://db:27017"}, "mongo mongodb://db:27017 database jobmediator"},
		{store.Config{MongoURL: "mongodb://db/x", Database: "y"}, "mongo mongodb://db/x database y"},
		{store.Config{}, "embedded data"},
		{store.Config{DataDir: "/srv/jm"}, "embedded /srv/jm"},
	}
	for _, c := range cases {
		if got := c.cfg.Describe(); got != c.want {
			t.Errorf("Describe() = %q, want %q", got, c.want)
		}
	}
}

func TestOpenRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		cfg  store.Config
		msg  string
	}{
		{"state cap too small", store.Config{DataDir: dir, MaxStateBytes: 10}, "max state bytes"},
		{"state cap too big", store.Config{DataDir: dir, MaxStateBytes: 1 << 30}, "max state bytes"},
		{"negative retention", store.Config{DataDir: dir, Retention: store.Retention{Days: -1}}, "retention"},
		{"negative timeout", store.Config{DataDir: dir, ConnectTimeout: -time.Second}, "connect timeout"},
		{"not a mongo url", store.Config{MongoURL: "postgres://u:topsecret@h/db"}, "must start with mongodb://"},
		{"bad database name", store.Config{MongoURL: "mongodb://127.0.0.1:1/", Database: "a.b"}, "database name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := store.Open(context.Background(), c.cfg)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("error %q, want ErrInvalid mentioning %q", err, c.msg)
			}
			if strings.Contains(err.Error(), "topsecret") {
				t.Fatalf("password leaked: %v", err)
			}
		})
	}
}

func TestOpenUnreachableMongoNamesURLWithoutPassword(t *testing.T) {
	// Port 1 on loopback: nothing listens, the dial fails fast.
	_, err := store.Open(context.Background(), store.Config{
		MongoURL: "mongodb://jm:pa55word-xyz@127.0.0.1:1/jm", ConnectTimeout: 300 * time.Millisecond,
	})
	if err == nil {
		t.Fatal("Open succeeded with no server")
	}
	if !strings.Contains(err.Error(), "mongodb://jm:***@127.0.0.1:1/jm") || strings.Contains(err.Error(), "pa55word-xyz") {
		t.Fatalf("error does not name the redacted URL: %v", err)
	}
}

func TestNewIDSortsByTimeAndIsUnique(t *testing.T) {
	seen := map[string]bool{}
	prev := ""
	for i := 0; i < 5000; i++ {
		id := store.NewID()
		if len(id) != 24 || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		if id[:12] < prev[:min(12, len(prev))] {
			t.Fatalf("id %s sorts before %s", id, prev)
		}
		seen[id], prev = true, id
	}
}

func TestIsTruncatedIgnoresOrdinaryStates(t *testing.T) {
	for _, s := range []string{``, `{}`, `{"$truncated":1}`, `{"data":{"$truncated":{"sha256":"x"}}}`, `[1]`} {
		if _, ok := store.IsTruncated([]byte(s)); ok {
			t.Errorf("IsTruncated(%s) = true", s)
		}
	}
}
