package fhir

import (
	"fmt"

	"github.com/jobmediator/jobmediator/fhir"
)

// Seed stores resources directly (no HTTP, not recorded), validated like a
// write. A resource with an id keeps it (a new version if it exists);
// one without gets a server id. A searchset or collection Bundle seeds its
// entry resources; other Bundles are stored as Bundle resources. Seed is
// all-or-nothing: on error nothing is stored.
func (s *Server) Seed(resources ...[]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx := s.st.clone()
	for i, b := range resources {
		doc, err := parseJSON(b)
		if err != nil {
			return fmt.Errorf("fhir sim: seed %d: not a JSON object: %w", i, err)
		}
		if oo := fhir.Validate(b); oo.HasErrors() {
			return fmt.Errorf("fhir sim: seed %d: %w", i, oo.Err())
		}
		docs := []map[string]any{doc}
		if t, _ := doc["type"].(string); doc["resourceType"] == "Bundle" && (t == "searchset" || t == "collection") {
			docs = nil
			entries, _ := doc["entry"].([]any)
			for _, e := range entries {
				if r, ok := e.(map[string]any)["resource"].(map[string]any); ok {
					docs = append(docs, r)
				}
			}
		}
		for _, d := range docs {
			typ, _ := d["resourceType"].(string)
			id, _ := d["id"].(string)
			if id == "" {
				id = s.newID(tx, typ)
			} else if !idRe.MatchString(id) {
				return fmt.Errorf("fhir sim: seed %d: invalid id %q", i, id)
			}
			s.write(tx, typ, id, d)
		}
	}
	s.st = tx
	return nil
}

// Resources returns the current (not deleted) resources of a type in
// creation order, for assertions. Numbers are json.Number.
func (s *Server) Resources(resourceType string) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for _, e := range s.st.live(resourceType) {
		m, err := parseJSON(e.current().raw)
		if err == nil {
			out = append(out, m)
		}
	}
	return out
}

// Resource returns the current version of type/id, if it exists and is not
// deleted.
func (s *Server) Resource(resourceType, id string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.st.get(resourceType, id)
	if !e.live() {
		return nil, false
	}
	m, err := parseJSON(e.current().raw)
	return m, err == nil
}

// Count returns how many current resources of a type exist.
func (s *Server) Count(resourceType string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.st.live(resourceType))
}

// capabilityStatement is GET /metadata: every R4 type with the
// interactions and search parameters the simulator implements.
func (s *Server) capabilityStatement() []byte {
	interactions := []any{}
	for _, c := range []string{"read", "vread", "update", "delete", "history-instance", "create", "search-type"} {
		interactions = append(interactions, map[string]any{"code": c})
	}
	var resources []any
	for _, t := range resourceTypes() {
		var params []any
		for _, name := range searchParamNames {
			if d, ok := lookupParam(t, name); ok {
				params = append(params, map[string]any{"name": name, "type": d.kind.String()})
			}
		}
		r := map[string]any{
			"type":              t,
			"interaction":       interactions,
			"versioning":        "versioned",
			"readHistory":       true,
			"updateCreate":      true,
			"conditionalCreate": true,
			"conditionalUpdate": true,
			"conditionalDelete": "single",
		}
		if len(params) > 0 {
			r["searchParam"] = params
		}
		resources = append(resources, r)
	}
	rest := map[string]any{
		"mode":        "server",
		"resource":    resources,
		"interaction": []any{map[string]any{"code": "transaction"}, map[string]any{"code": "batch"}},
	}
	if s.authused {
		var codes []any
		if len(s.tokens) > 0 {
			codes = append(codes, map[string]any{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "OAuth"})
		}
		if len(s.users) > 0 {
			codes = append(codes, map[string]any{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "Basic"})
		}
		rest["security"] = map[string]any{"service": []any{map[string]any{"coding": codes}}}
	}
	cs := map[string]any{
		"resourceType":   "CapabilityStatement",
		"status":         "active",
		"date":           instant(s.opts.Now()),
		"kind":           "instance",
		"software":       map[string]any{"name": "Job Mediator FHIR simulator"},
		"implementation": map[string]any{"description": "In-process FHIR R4 test server", "url": s.URL()},
		"fhirVersion":    "4.0.1",
		"format":         []any{"application/fhir+json", "json"},
		"rest":           []any{rest},
	}
	return encodeResource(cs)
}
