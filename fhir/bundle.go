package fhir

import (
	"encoding/json"
	"fmt"

	models "github.com/samply/golang-fhir-models/fhir-models/fhir"
)

// Entry is one Bundle entry with its resource decoded (nil when the entry
// has none, e.g. a DELETE or GET request entry).
type Entry struct {
	Index    int
	FullURL  string
	Resource *Resource
	Request  *models.BundleEntryRequest
	Response *models.BundleEntryResponse
	Search   *models.BundleEntrySearch
}

// Entries returns the entries of a Bundle with their resources decoded.
// A bad entry resource fails with an error naming Bundle.entry[i].resource.
func Entries(bundle *Resource) ([]Entry, error) {
	b, err := As[models.Bundle](bundle)
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(b.Entry))
	for i, e := range b.Entry {
		en := Entry{Index: i, Request: e.Request, Response: e.Response, Search: e.Search}
		if e.FullUrl != nil {
			en.FullURL = *e.FullUrl
		}
		if len(e.Resource) > 0 {
			r, err := Decode(e.Resource)
			if err != nil {
				return nil, prefixError(err, fmt.Sprintf("Bundle.entry[%d].resource", i))
			}
			en.Resource = r
		}
		out = append(out, en)
	}
	return out, nil
}

// prefixError puts path in front of every issue expression of an *Error.
func prefixError(err error, path string) error {
	fe, ok := err.(*Error)
	if !ok {
		return fmt.Errorf("%s: %w", path, err)
	}
	out := &Error{}
	for _, is := range fe.Issues {
		c := is
		if len(c.Expression) == 0 {
			c.Expression = []string{path}
		} else {
			c.Expression = []string{path + "." + c.Expression[0]}
		}
		out.Issues = append(out.Issues, c)
	}
	return out
}

// NextLink returns the url of the Bundle's "next" link, or "" when it has
// none (last page). Follow it verbatim: it is opaque.
func NextLink(bundle *Resource) string {
	b, err := As[models.Bundle](bundle)
	if err != nil {
		return ""
	}
	for _, l := range b.Link {
		if l.Relation == "next" {
			return l.Url
		}
	}
	return ""
}

// SearchTotal returns Bundle.total and whether the server sent it (R4 makes
// it optional, so callers must not rely on it to stop paging).
func SearchTotal(bundle *Resource) (int, bool) {
	b, err := As[models.Bundle](bundle)
	if err != nil || b.Total == nil {
		return 0, false
	}
	return *b.Total, true
}

// BundleEntry is one entry to put in a built Bundle.
type BundleEntry struct {
	FullURL  string
	Resource *Resource // may be nil for DELETE/GET
	Request  Request
}

// Request is Bundle.entry.request.
type Request struct {
	Method      string `json:"method"`
	URL         string `json:"url"`
	IfNoneExist string `json:"ifNoneExist,omitempty"`
	IfMatch     string `json:"ifMatch,omitempty"`
}

var bundleMethods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true, "PATCH": true}

// NewTransaction builds a transaction Bundle (atomic on the server).
func NewTransaction(entries []BundleEntry) (*Resource, error) {
	return newRequestBundle("transaction", entries)
}

// NewBatch builds a batch Bundle (entries processed independently).
func NewBatch(entries []BundleEntry) (*Resource, error) {
	return newRequestBundle("batch", entries)
}

func newRequestBundle(typ string, entries []BundleEntry) (*Resource, error) {
	type wireEntry struct {
		FullURL  string    `json:"fullUrl,omitempty"`
		Resource *Resource `json:"resource,omitempty"`
		Request  Request   `json:"request"`
	}
	wire := struct {
		ResourceType string      `json:"resourceType"`
		Type         string      `json:"type"`
		Entry        []wireEntry `json:"entry,omitempty"`
	}{ResourceType: "Bundle", Type: typ}
	seen := map[string]int{}
	for i, e := range entries {
		if !bundleMethods[e.Request.Method] {
			return nil, fmt.Errorf("fhir: Bundle.entry[%d].request.method %q is not an HTTP verb FHIR allows", i, e.Request.Method)
		}
		if e.Request.URL == "" {
			return nil, fmt.Errorf("fhir: Bundle.entry[%d].request.url is empty", i)
		}
		if (e.Request.Method == "POST" || e.Request.Method == "PUT") && e.Resource == nil {
			return nil, fmt.Errorf("fhir: Bundle.entry[%d]: %s needs a resource", i, e.Request.Method)
		}
		if e.FullURL != "" {
			if j, dup := seen[e.FullURL]; dup {
				return nil, fmt.Errorf("fhir: Bundle.entry[%d].fullUrl %q duplicates entry[%d]", i, e.FullURL, j)
			}
			seen[e.FullURL] = i
		}
		wire.Entry = append(wire.Entry, wireEntry(e))
	}
	b, err := json.Marshal(wire)
	if err != nil {
		return nil, fmt.Errorf("fhir: encode bundle: %w", err)
	}
	return Decode(b)
}
