package dhis2

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// sharedDir holds the real public DHIS2 payloads (see its README.md).
const sharedDir = "../../testdata/shared/dhis2"

var fixedNow = time.Date(2024, 6, 15, 10, 30, 0, 0, time.UTC)

func startSim(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return fixedNow }
	}
	s := New(o)
	if err := s.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(s.Close)
	s.LoadDefaultMetadata()
	return s
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

var adminAuth = basic("admin", "district")

type resp struct {
	code   int
	header http.Header
	raw    []byte
	body   any
}

func (r resp) obj(t testing.TB) map[string]any {
	t.Helper()
	m, ok := r.body.(map[string]any)
	if !ok {
		t.Fatalf("body is not an object (HTTP %d): %s", r.code, r.raw)
	}
	return m
}

var client = &http.Client{Timeout: 10 * time.Second}

// call sends a request; body is []byte, string or anything JSON-marshalable;
// auth "" sends no Authorization header.
func call(t testing.TB, s *Server, method, path string, body any, auth string) resp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, s.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	r := resp{code: res.StatusCode, header: res.Header, raw: raw}
	if strings.Contains(res.Header.Get("Content-Type"), "json") && len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&r.body); err != nil {
			t.Fatalf("decode %s: %v", raw, err)
		}
	}
	return r
}

func get(t testing.TB, s *Server, path string) resp { return call(t, s, "GET", path, nil, adminAuth) }

func post(t testing.TB, s *Server, path string, body any) resp {
	return call(t, s, "POST", path, body, adminAuth)
}

func readShared(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(sharedDir, name))
	if err != nil {
		t.Fatalf("shared testdata: %v", err)
	}
	return b
}

func sharedJSON(t testing.TB, name string) any {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(readShared(t, name)))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// at walks a decoded JSON value: at(v, "response", "importCount", "imported").
func at(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func num(v any) int {
	switch n := v.(type) {
	case json.Number:
		i, _ := n.Int64()
		return int(i)
	case float64:
		return int(n)
	case int:
		return n
	}
	return -1
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "bool"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// sameShape reports where got lacks a key of want or has another JSON type
// there. Arrays compare want's first element with every element of got.
// skip lists dotted paths that are allowed to differ.
func sameShape(want, got any, path string, skip map[string]bool) []string {
	if skip[path] {
		return nil
	}
	if want == nil {
		return nil
	}
	if kind(want) != kind(got) {
		return []string{fmt.Sprintf("%s: want %s, got %s", path, kind(want), kind(got))}
	}
	var out []string
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := strings.TrimPrefix(path+"."+k, ".")
			if skip[p] {
				continue
			}
			gv, ok := g[k]
			if !ok {
				out = append(out, p+": missing")
				continue
			}
			out = append(out, sameShape(w[k], gv, p, skip)...)
		}
	case []any:
		g := got.([]any)
		if len(w) > 0 {
			if len(g) == 0 {
				return []string{path + ": want a non-empty array"}
			}
			for _, e := range g {
				out = append(out, sameShape(w[0], e, path+"[]", skip)...)
			}
		}
	}
	return out
}

func assertShape(t testing.TB, name string, want, got any, skip ...string) {
	t.Helper()
	sk := map[string]bool{}
	for _, s := range skip {
		sk[s] = true
	}
	if diffs := sameShape(want, got, "", sk); len(diffs) > 0 {
		t.Errorf("%s: shape differs:\n  %s", name, strings.Join(diffs, "\n  "))
	}
}

func counts(t testing.TB, summary any) [4]int {
	t.Helper()
	c := at(summary, "importCount")
	if c == nil {
		t.Fatalf("no importCount in %v", summary)
	}
	return [4]int{num(at(c, "imported")), num(at(c, "updated")), num(at(c, "ignored")), num(at(c, "deleted"))}
}

func dvs(values ...map[string]any) map[string]any {
	l := make([]any, len(values))
	for i, v := range values {
		l[i] = v
	}
	return map[string]any{"dataValues": l}
}

// mortality builds a value for the Mortality < 5 data set (Monthly,
// INTEGER_ZERO_OR_POSITIVE, zeroIsSignificant=false) at Ngelehun CHC.
func mortality(de, period, value string) map[string]any {
	return map[string]any{"dataElement": de, "period": period, "orgUnit": "DiszpKrYNg8", "value": value}
}
