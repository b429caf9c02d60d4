package oscar

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2025, 8, 2, 10, 0, 0, 0, time.UTC)

func startServer(t *testing.T, o Options) *Server {
	t.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return t0 }
	}
	s := New(o)
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

type resp struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func call(t testing.TB, s *Server, method, path string, headers map[string]string, body any) resp {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, s.URL()+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := resp{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// signIn returns the headers the jobs echo, plus the Basic header http ≤5
// adds because configuration.username is set.
func signIn(t testing.TB, s *Server) map[string]string {
	t.Helper()
	r := call(t, s, "POST", "/api/v1/admin_auth/sign_in", nil, map[string]any{"email": "openfn@oscar.org", "password": "oscar-password"})
	if r.status != 200 {
		t.Fatalf("sign in: %d %s", r.status, r.raw)
	}
	return map[string]string{
		"access-token":  r.header.Get("access-token"),
		"client":        r.header.Get("client"),
		"uid":           "openfn@oscar.org",
		"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("openfn@oscar.org:oscar-password")),
	}
}

func clientsSince(t *testing.T, s *Server, h map[string]string, since string) []map[string]any {
	t.Helper()
	path := "/api/v1/organizations/clients"
	if since != "" {
		path += "?since_date=" + url.QueryEscape(since)
	}
	r := call(t, s, "GET", path, h, nil)
	if r.status != 200 {
		t.Fatalf("clients: %d %s", r.status, r.raw)
	}
	list, ok := r.body["data"].([]any)
	if !ok {
		t.Fatalf("no data array: %s", r.raw)
	}
	out := make([]map[string]any, len(list))
	for i, c := range list {
		out[i] = c.(map[string]any)
	}
	return out
}

func gids(list []map[string]any) []string {
	var out []string
	for _, c := range list {
		out = append(out, c["global_id"].(string))
	}
	return out
}

// referralPayload is the body f1-j2 posts per service.
func referralPayload(externalID, serviceUUID, serviceName string) map[string]any {
	return map[string]any{"organization": map[string]any{
		"external_id": externalID, "external_id_display": externalID[len(externalID)-7:],
		"level_of_risk": "medium", "mosvy_number": "", "given_name": "Aicha", "family_name": "Diallo",
		"gender": "female", "date_of_birth": "2016-01-01",
		"location_current_village_code": "01070101", "address_current_village_code": "01070101",
		"reason_for_referral": "needs care", "external_case_worker_name": "openfn_cp_user",
		"external_case_worker_id": "u-1", "external_case_worker_mobile": "000000000",
		"resource": "Primero", "is_referred": true, "organization_name": "cif", "organization_id": "agency-unicef",
		"services":         []any{map[string]any{"uuid": serviceUUID, "name": serviceName}},
		"transaction_id":   "tx-1",
		"date_of_referral": "2025-08-02",
	}}
}
