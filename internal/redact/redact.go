// Package redact removes secrets from anything Job Mediator writes down: logs,
// orchestrations, run history, error messages.
//
// Two rules apply. Values stored under a sensitive key (password, token,
// authorization, …) are replaced wherever that key appears, and every known
// secret value (credential fields, configured extras) is replaced wherever it
// appears as a substring, including inside Basic-auth headers and URLs.
package redact

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/maphash"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jobmediator/jobmediator/internal/jsonvalue"
	"github.com/jobmediator/jobmediator/internal/urlenc"
)

// Mask is what a secret is replaced with.
const Mask = "***"

// minSecretLen stops short values ("1", "yes") from being scrubbed everywhere.
const minSecretLen = 4

// defaultKeys are key names (compared case-insensitively, ignoring - and _)
// whose values are secret wherever they appear.
var defaultKeys = []string{
	"password", "pass", "passwd", "pwd", "secret", "clientsecret", "token",
	"accesstoken", "refreshtoken", "apitoken", "apikey", "pat", "authorization",
	"proxyauthorization", "cookie", "setcookie", "authtoken", "authsalt",
	"privatekey", "connectionstring", "xapikey",
}

// Redactor knows which keys and values are secret. The zero value is not
// usable; call New. It is safe for concurrent use.
type Redactor struct {
	mu   sync.RWMutex
	keys map[string]bool
	// keysID names this keys map (never reused, see Fingerprint); a clone
	// shares both
	keysID uint64
	// sets are the registered secrets, one immutable formSet per value,
	// shared by every redactor that knows that value (see cachedForms):
	// a run's redactor is a clone of the mediator's plus the run's
	// credentials, and registering a credential must not cost computing
	// and sorting some thirty encodings of each secret again on every
	// run. Every occurrence of every form is found and overlapping spans
	// are merged (spans), so the order of sets does not matter.
	sets []*formSet
}

// formSet is one secret value's forms (see forms). It never changes once
// built.
type formSet struct {
	id   uint64   // never reused, see Fingerprint
	text []string // searched for anywhere
	b64  []string // base64 forms: only looked for inside runs of base64 characters
	// shortestB64 is the length of the shortest b64 form (0: none).
	shortestB64 int
}

// New returns a Redactor with the default sensitive keys plus extraKeys.
func New(extraKeys ...string) *Redactor {
	r := &Redactor{keys: map[string]bool{}, keysID: nextID.Add(1)}
	for _, k := range defaultKeys {
		r.keys[normKey(k)] = true
	}
	for _, k := range extraKeys {
		r.keys[normKey(k)] = true
	}
	return r
}

// keyNoise is built once: normKey runs for every key of every redacted
// document and header.
var keyNoise = strings.NewReplacer("-", "", "_", "", " ", "", ".", "")

func normKey(k string) string {
	// most keys are already plain lower-case words: no copy for those
	plain := true
	for i := 0; i < len(k); i++ {
		if c := k[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			plain = false
			break
		}
	}
	if plain {
		return k
	}
	return keyNoise.Replace(strings.ToLower(k))
}

// SensitiveKey reports whether values under key are secret.
func (r *Redactor) SensitiveKey(key string) bool {
	r.mu.RLock()
	keys := r.keys
	r.mu.RUnlock()
	return sensitiveKey(keys, key)
}

// sensitiveKey is SensitiveKey in keys (a Redactor's keys map, which is
// never written once made) for a key as a string or as the bytes of a
// document (the JSON redactor's keys, which then need no string at all).
// The JSON redactor looks every key of a document up in the map it took
// at the start, without a lock per key.
func sensitiveKey[K string | []byte](keys map[string]bool, key K) bool {
	// Every key of every redacted document and every header name comes
	// through here: normalise ASCII keys into a stack buffer, which the
	// map lookup reads without allocating a string.
	var buf [64]byte
	b, ascii := buf[:0], len(key) <= len(buf)
	for i := 0; ascii && i < len(key); i++ {
		switch c := key[i]; {
		case c >= 0x80:
			ascii = false
		case c == '-' || c == '_' || c == ' ' || c == '.':
		case 'A' <= c && c <= 'Z':
			b = append(b, c+'a'-'A')
		default:
			b = append(b, c)
		}
	}
	if ascii {
		return keys[string(b)]
	}
	return keys[normKey(string(key))]
}

// AddKeys marks more key names as sensitive. The keys map is never
// changed in place (clones share it, see Clone): a new one replaces it.
func (r *Redactor) AddKeys(keys ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next := make(map[string]bool, len(r.keys)+len(keys))
	for k := range r.keys {
		next[k] = true
	}
	for _, k := range keys {
		next[normKey(k)] = true
	}
	r.keys, r.keysID = next, nextID.Add(1)
}

// AddValues registers secret values; short ones are ignored. Every form a
// value takes on its way out is registered too (see forms): secrets leak
// through query strings, form bodies, JSON text carried in a string (a log
// line, an upstream's error echoing our request body) and base64 blobs.
func (r *Redactor) AddValues(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range values {
		if len(v) < minSecretLen {
			continue
		}
		r.addSet(cachedForms(v))
	}
}

// addSet registers fs unless this redactor has it already. Callers hold mu.
func (r *Redactor) addSet(fs *formSet) {
	for _, have := range r.sets {
		if have == fs {
			return
		}
	}
	r.sets = append(r.sets, fs)
}

// formCache maps a secret value to its formSet. The values are credential
// fields, held in memory by the credential store anyway; the cache only
// stops growing at formCacheMax distinct values (a credential rotated
// thousands of times without a restart), after which new values are
// computed per call.
var (
	formCache     sync.Map // string → *formSet
	formCacheSize atomic.Int64
)

const formCacheMax = 4096

func cachedForms(v string) *formSet {
	if fs, ok := formCache.Load(v); ok {
		return fs.(*formSet)
	}
	fs := newFormSet(forms(v))
	if formCacheSize.Load() < formCacheMax {
		if prev, loaded := formCache.LoadOrStore(v, fs); loaded {
			return prev.(*formSet)
		}
		formCacheSize.Add(1)
	}
	return fs
}

// newFormSet keeps the forms long enough to search for, without repeats.
func newFormSet(text, b64 []string) *formSet {
	fs := &formSet{id: nextID.Add(1)}
	seen := map[string]bool{}
	keep := func(list []string) []string {
		var out []string
		for _, f := range list {
			if len(f) >= minSecretLen && !seen[f] {
				seen[f] = true
				out = append(out, f)
			}
		}
		return out
	}
	fs.text, fs.b64 = keep(text), keep(b64)
	for _, f := range fs.b64 {
		if fs.shortestB64 == 0 || len(f) < fs.shortestB64 {
			fs.shortestB64 = len(f)
		}
	}
	return fs
}

// minBase64Core is the shortest run of base64 characters taken as a sign of
// a secret inside a larger base64 blob: shorter runs would mask ordinary
// words.
const minBase64Core = 6

// forms lists the ways value can appear in text Job Mediator writes down:
// as it is; URL-encoded as encodeURIComponent, form encoding (space as +,
// Go's, the WHATWG's and jQuery's variants) and path escaping, with upper- and
// lower-case hex; JSON-escaped once and twice (as JavaScript and as Go
// with HTML escapes write it); and base64 (standard and URL alphabets, with
// and without padding, and the characters it contributes at each of the
// three byte alignments inside a longer encoded blob). The base64 forms
// come apart: they are only looked for inside runs of base64 characters.
func forms(value string) (forms, b64 []string) {
	uri := urlenc.URIComponent(value)
	// The last is what jQuery.param and many jobs write: encodeURIComponent
	// with %20 turned into +.
	forms = []string{value, url.QueryEscape(value), url.PathEscape(value), uri, urlenc.Form(value), strings.ReplaceAll(uri, "%20", "+")}
	for _, f := range forms[1:6] {
		if l := lowerHex(f); l != f {
			forms = append(forms, l)
		}
	}
	for _, html := range []bool{false, true} {
		once := jsonEscape(value, html)
		forms = append(forms, once, jsonEscape(once, html))
	}
	if len(value) >= minBase64Core {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding} {
			b64 = append(b64, enc.EncodeToString([]byte(value)))
			b64 = append(b64, base64Cores(enc, value)...)
		}
	}
	return forms, b64
}

// base64Cores are the characters of base64(prefix + value + suffix) that
// depend on value alone, for prefixes of 0, 1 and 2 bytes: whatever
// surrounds the secret in the encoded blob, one of them appears.
func base64Cores(enc *base64.Encoding, value string) []string {
	var out []string
	for a := 0; a < 3; a++ {
		buf := make([]byte, a+len(value))
		copy(buf[a:], value)
		s := enc.EncodeToString(buf)
		start := (a*8 + 5) / 6          // first character with no prefix bits
		end := (a + len(value)) * 8 / 6 // characters made of whole 6-bit groups
		if end-start >= minBase64Core {
			out = append(out, s[start:end])
		}
	}
	return out
}

// lowerHex lower-cases the hex digits of percent escapes (%2F → %2f), as
// some encoders write them.
func lowerHex(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1], b[i+2] = toLowerHex(b[i+1]), toLowerHex(b[i+2])
			i += 2
		}
	}
	return string(b)
}

func toLowerHex(c byte) byte {
	if 'A' <= c && c <= 'F' {
		return c + 'a' - 'A'
	}
	return c
}

// jsonEscape is s as written inside a JSON string: as JavaScript writes it,
// or with Go's HTML escapes (<, >, & as \u003c, \u003e, \u0026).
func jsonEscape(s string, html bool) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	if enc.Encode(s) != nil {
		return s
	}
	out := strings.TrimSuffix(b.String(), "\n")
	return out[1 : len(out)-1]
}

// SecretsIn lists the values (strings, and numbers as written, e.g. a
// numeric PIN) found under a sensitive key anywhere in a JSON-like value.
func (r *Redactor) SecretsIn(v any) []string {
	var out []string
	var walk func(v any, sensitive bool)
	walk = func(v any, sensitive bool) {
		switch t := v.(type) {
		case map[string]any:
			for k, vv := range t {
				walk(vv, sensitive || r.SensitiveKey(k))
			}
		case []any:
			for _, vv := range t {
				walk(vv, sensitive)
			}
		case string:
			if sensitive && t != "" {
				out = append(out, t)
			}
		case int:
			if sensitive {
				out = append(out, strconv.Itoa(t))
			}
		case float64:
			if sensitive {
				out = append(out, strconv.FormatFloat(t, 'f', -1, 64))
			}
		}
	}
	walk(v, false)
	return out
}

// AddSecretsFrom registers every value found under a sensitive key in a
// credential (configuration) object, at any depth.
func (r *Redactor) AddSecretsFrom(configuration map[string]any) {
	r.AddValues(r.SecretsIn(configuration)...)
	// A Basic-auth header (or an upstream echoing it) carries
	// base64(user:password), which contains neither value on its own.
	var user, pass string
	for _, k := range []string{"username", "user", "user_name", "email"} {
		if s, ok := configuration[k].(string); ok && s != "" {
			user = s
			break
		}
	}
	if s, ok := configuration["password"].(string); ok {
		pass = s
	}
	if user != "" && pass != "" {
		r.AddValues(base64.StdEncoding.EncodeToString([]byte(user + ":" + pass)))
	}
}

// Clone returns an independent copy, so per-run secrets do not leak into the
// shared redactor. The form sets and the keys map are immutable and shared.
func (r *Redactor) Clone() *Redactor {
	r.mu.RLock()
	defer r.mu.RUnlock()
	// the keys map is shared: AddKeys replaces it rather than writing to it
	return &Redactor{keys: r.keys, keysID: r.keysID, sets: append(make([]*formSet, 0, len(r.sets)+4), r.sets...)}
}

// String replaces every known secret value in s. Every occurrence of every
// value is found first (one fast substring search per value when there is
// none) and every byte covered by any of them is masked, so overlapping
// secrets (one a prefix of another, two sharing characters) leave nothing
// of either behind.
func (r *Redactor) String(s string) string {
	if s == "" {
		return s
	}
	r.mu.RLock()
	spans := r.spans(s)
	r.mu.RUnlock()
	if len(spans) == 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp[0]])
		b.WriteString(Mask)
		last = sp[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// spans lists where known secrets occur in s: sorted, overlapping and
// touching matches merged. Callers hold mu (read).
func (r *Redactor) spans(s string) [][2]int {
	var spans [][2]int
	shortest, b64 := 0, 0
	for _, fs := range r.sets {
		for _, v := range fs.text {
			spans = occurrences(s, v, 0, spans)
		}
		if fs.shortestB64 > 0 && (shortest == 0 || fs.shortestB64 < shortest) {
			shortest = fs.shortestB64
		}
		b64 += len(fs.b64)
	}
	switch {
	case shortest == 0:
	case b64 <= directBase64Forms:
		spans = r.base64SpansDirect(s, spans)
	default:
		spans = r.base64Spans(s, shortest, spans)
	}
	if len(spans) < 2 {
		return spans
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i][0] < spans[j][0] })
	merged := spans[:1]
	for _, sp := range spans[1:] {
		if last := &merged[len(merged)-1]; sp[0] <= last[1] {
			last[1] = max(last[1], sp[1])
		} else {
			merged = append(merged, sp)
		}
	}
	return merged
}

// occurrences appends every (possibly overlapping) occurrence of v in s,
// offset by base.
func occurrences(s, v string, base int, spans [][2]int) [][2]int {
	for off := 0; off <= len(s)-len(v); {
		j := strings.Index(s[off:], v)
		if j < 0 {
			break
		}
		spans = append(spans, [2]int{base + off + j, base + off + j + len(v)})
		off += j + 1
	}
	return spans
}

// base64Spans adds the base64 forms found in s. They can only occur inside
// a run of base64 characters at least as long as the shortest form, and
// ordinary text has few such runs, so most text costs one pass over its
// bytes instead of one search per form.
func (r *Redactor) base64Spans(s string, shortest int, spans [][2]int) [][2]int {
	for i := 0; i < len(s); {
		if !isBase64Char(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isBase64Char(s[j]) {
			j++
		}
		if run := s[i:j]; len(run) >= shortest {
			for _, fs := range r.sets {
				for _, v := range fs.b64 {
					spans = occurrences(run, v, i, spans)
				}
			}
		}
		i = j
	}
	return spans
}

// directBase64Forms is how many base64 forms are cheaper to search for
// in the whole text, one vectorised substring search each, than inside
// its base64 runs, which base64Spans finds with a loop over every byte: a
// run's redactor (the store's secrets and the run's credentials) has a
// handful, a document's ~500 ns loop cost more than their searches.
const directBase64Forms = 16

// base64SpansDirect is base64Spans by searching the whole text for each
// form: a form is made of base64 characters only, so wherever it occurs it
// lies inside a run of them at least as long as itself, and the spans
// found are the same.
func (r *Redactor) base64SpansDirect(s string, spans [][2]int) [][2]int {
	for _, fs := range r.sets {
		for _, v := range fs.b64 {
			spans = occurrences(s, v, 0, spans)
		}
	}
	return spans
}

func isBase64Char(c byte) bool { return base64Chars[c] }

// base64Chars marks both alphabets' characters and the padding: a table,
// since base64Spans asks about every byte of every redacted text.
var base64Chars = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=' || c == '-' || c == '_'
	}
	return t
}()

// Header returns a copy of h with sensitive headers masked and secret values
// scrubbed from the rest. A Basic credential is decoded first, so a secret
// inside "Basic base64(user:pass)" is caught even under an unlisted name.
func (r *Redactor) Header(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, vs := range h {
		cp := make([]string, len(vs))
		for i, v := range vs {
			cp[i] = r.headerValue(k, v)
		}
		out[k] = cp
	}
	return out
}

// HeaderMap is Header for a flat map, as used in orchestrations.
func (r *Redactor) HeaderMap(h map[string]string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		out[k] = r.headerValue(k, v)
	}
	return out
}

func (r *Redactor) headerValue(name, v string) string {
	if r.SensitiveKey(name) {
		if scheme, _, ok := strings.Cut(v, " "); ok && !strings.Contains(scheme, "=") {
			return scheme + " " + Mask
		}
		return Mask
	}
	if scheme, cred, ok := strings.Cut(v, " "); ok && strings.EqualFold(scheme, "basic") {
		if dec, err := base64.StdEncoding.DecodeString(cred); err == nil && r.String(string(dec)) != string(dec) {
			return scheme + " " + Mask
		}
	}
	return r.String(v)
}

// URL scrubs user info and secret values from a URL string.
func (r *Redactor) URL(raw string) string {
	u, err := url.Parse(raw)
	if err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), Mask)
		}
		raw = u.String()
		raw = strings.Replace(raw, url.QueryEscape(Mask), Mask, 1)
	}
	if err == nil && u.RawQuery != "" {
		q := u.Query()
		changed := false
		for k := range q {
			if r.SensitiveKey(k) {
				q.Set(k, Mask)
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
			raw = u.String()
		}
	}
	return r.String(raw)
}

// Value returns a deep copy of a JSON-like value (maps, slices, scalars) with
// sensitive keys masked and secret values scrubbed from strings.
func (r *Redactor) Value(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, vv := range t {
			if r.SensitiveKey(k) && vv != nil {
				if _, isMap := vv.(map[string]any); !isMap {
					out[k] = Mask
					continue
				}
			}
			out[k] = r.Value(vv)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, vv := range t {
			out[i] = r.Value(vv)
		}
		return out
	case string:
		return r.String(t)
	default:
		return v
	}
}

// JSON redacts a JSON document in one pass over its text, keeping its key
// order (whitespace between tokens is dropped): a value under a sensitive key (other than an object,
// which is walked, or null) becomes "***", and every string holding a
// known secret has it masked. Non-JSON input is treated as text. The cost
// is linear in the document (no decoding into maps, no sorting), which
// matters for the multi-megabyte states run history stores.
func (r *Redactor) JSON(b []byte) []byte { return r.JSONWithout(b, "") }

// JSONWithout is JSON of b without the top-level members named key, when b
// is an object (JSON(jsonvalue.WithoutKey(b, key)), in one pass instead of
// two: run history drops the legacy profile's configuration from every
// run's final state before redacting it). An empty key drops nothing.
func (r *Redactor) JSONWithout(b []byte, key string) []byte {
	if len(b) == 0 {
		return b
	}
	if !jsonvalue.Valid(b) {
		return []byte(r.String(string(b)))
	}
	r.mu.RLock()
	spans := r.spans(string(b))
	keys := r.keys
	r.mu.RUnlock()
	w := jsonRedaction{r: r, keys: keys, in: b, spans: spans, out: make([]byte, 0, len(b))}
	if w.skipSpace(); b[w.pos] == '{' {
		w.drop = key
	}
	w.value(false)
	return w.out
}

// jsonRedaction is the state of one JSON call; in is valid JSON.
type jsonRedaction struct {
	r     *Redactor
	keys  map[string]bool // r's sensitive keys when the call began
	drop  string          // the next object's members of this name are left out (JSONWithout's top level)
	in    []byte
	pos   int
	spans [][2]int // secrets found in the raw text, sorted
	next  int      // first span that may still lie at or after pos
	out   []byte
}

func (w *jsonRedaction) skipSpace() {
	for w.pos < len(w.in) {
		switch w.in[w.pos] {
		case ' ', '\t', '\n', '\r':
			w.pos++
		default:
			return
		}
	}
}

// value copies (or masks) the value at pos; sensitive means it sits under
// a sensitive key.
func (w *jsonRedaction) value(sensitive bool) {
	w.skipSpace()
	start := w.pos
	switch c := w.in[w.pos]; c {
	case '{':
		w.object()
		return
	case '[':
		if sensitive {
			w.skipValue()
			w.out = append(w.out, `"`+Mask+`"`...)
			return
		}
		w.array()
		return
	case '"':
		end := w.stringEnd()
		if sensitive {
			w.out = append(w.out, `"`+Mask+`"`...)
		} else {
			w.str(start, end)
		}
		w.pos = end
		return
	}
	w.skipValue() // number, true, false, null
	if sensitive && string(w.in[start:w.pos]) != "null" {
		w.out = append(w.out, `"`+Mask+`"`...)
		return
	}
	w.out = append(w.out, w.in[start:w.pos]...)
}

func (w *jsonRedaction) object() {
	drop := w.drop
	w.drop = ""
	w.out = append(w.out, '{')
	w.pos++
	wrote := false
	for first := true; ; first = false {
		w.skipSpace()
		if w.in[w.pos] == '}' {
			w.pos++
			w.out = append(w.out, '}')
			return
		}
		if !first {
			w.pos++ // ','
			w.skipSpace()
		}
		kStart := w.pos
		kEnd := w.stringEnd()
		w.pos = kEnd
		raw := w.in[kStart+1 : kEnd-1]
		escaped := bytes.IndexByte(raw, '\\') >= 0
		var key string // decoded, for a key written with escapes
		if escaped {
			key = decodeString(w.in[kStart:kEnd])
		}
		w.skipSpace()
		w.pos++ // ':'
		if drop != "" && (escaped && key == drop || !escaped && string(raw) == drop) {
			w.skipSpace()
			w.skipValue()
			continue
		}
		if wrote {
			w.out = append(w.out, ',')
		}
		wrote = true
		w.out = append(w.out, w.in[kStart:kEnd]...)
		w.out = append(w.out, ':')
		if escaped {
			w.value(sensitiveKey(w.keys, key))
		} else {
			w.value(sensitiveKey(w.keys, raw))
		}
	}
}

// decodeString is the text of a JSON string token (in a function of its
// own: a variable whose address goes to json.Unmarshal is allocated
// wherever it is declared, every time).
func decodeString(tok []byte) string {
	var s string
	_ = json.Unmarshal(tok, &s)
	return s
}

func (w *jsonRedaction) array() {
	w.out = append(w.out, '[')
	w.pos++
	for first := true; ; first = false {
		w.skipSpace()
		if w.in[w.pos] == ']' {
			w.pos++
			w.out = append(w.out, ']')
			return
		}
		if !first {
			w.pos++ // ','
			w.out = append(w.out, ',')
		}
		w.value(false)
	}
}

// stringEnd is the offset just past the string starting at pos.
func (w *jsonRedaction) stringEnd() int { return jsonvalue.StringEnd(w.in, w.pos) }

// skipValue moves pos past the value there (used for masked values and
// scalars).
func (w *jsonRedaction) skipValue() { w.pos = jsonvalue.ValueEnd(w.in, w.pos) }

// str copies the string token in[start:end], masking secrets. A string
// with escapes is decoded first (a secret may be written with \u escapes),
// one without is its own text, so only strings a secret was found in are
// touched.
func (w *jsonRedaction) str(start, end int) {
	raw := w.in[start:end]
	for w.next < len(w.spans) && w.spans[w.next][1] <= start {
		w.next++
	}
	hit := w.next < len(w.spans) && w.spans[w.next][0] < end
	escaped := bytes.IndexByte(raw, '\\') >= 0
	if !hit && !escaped {
		w.out = append(w.out, raw...)
		return
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		w.out = append(w.out, raw...)
		return
	}
	masked := w.r.String(s)
	if masked == s && !hit {
		w.out = append(w.out, raw...)
		return
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(masked)
	w.out = append(w.out, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
}

// Body redacts a body according to its content type: JSON structurally,
// form-encoded by key, anything else as text.
func (r *Redactor) Body(contentType string, b []byte) []byte {
	ct := strings.ToLower(contentType)
	switch {
	case strings.Contains(ct, "json"):
		return r.JSON(b)
	case strings.Contains(ct, "x-www-form-urlencoded"):
		q, err := url.ParseQuery(string(b))
		if err != nil {
			return []byte(r.String(string(b)))
		}
		for k := range q {
			if r.SensitiveKey(k) {
				q.Set(k, Mask)
			}
		}
		return []byte(r.String(q.Encode()))
	default:
		trim := strings.TrimSpace(string(b))
		if strings.HasPrefix(trim, "{") || strings.HasPrefix(trim, "[") {
			return r.JSON(b)
		}
		return []byte(r.String(string(b)))
	}
}

// Snapshot is what a Redactor knows, in a form that crosses a process
// boundary: a run executed in a worker process redacts exactly as the
// mediator that sent it would.
type Snapshot struct {
	Keys   []string `json:"keys,omitempty"`   // normalised sensitive key names
	Values []string `json:"values,omitempty"` // every registered form of every secret
	Base64 []string `json:"base64,omitempty"` // base64 forms
}

// Fingerprint identifies what the redactor knows: two redactors with the
// same fingerprint hold the same sensitive keys and the same secrets (the
// same shared form sets, see cachedForms), in any order. It costs a sort of
// a few pointers, where a Snapshot copies and the caller encodes every form
// of every secret: the worker pool asks it on every run, to send a worker
// the run's secrets only when they changed. Different fingerprints may
// still hold equal secrets (a value past the form cache gets a new set), so
// a caller compares them only to skip work, never to skip redaction.
func (r *Redactor) Fingerprint() uint64 {
	r.mu.RLock()
	ids := make([]uint64, 0, len(r.sets)+1)
	ids = append(ids, r.keysID)
	for _, fs := range r.sets {
		ids = append(ids, fs.id)
	}
	r.mu.RUnlock()
	slices.Sort(ids[1:])
	var h maphash.Hash
	h.SetSeed(fingerprintSeed)
	var b [8]byte
	for _, id := range ids {
		binary.LittleEndian.PutUint64(b[:], id)
		_, _ = h.Write(b[:])
	}
	return h.Sum64()
}

var fingerprintSeed = maphash.MakeSeed()

// nextID numbers keys maps and form sets: an address can be reused once
// the garbage collector frees what was there, a number cannot.
var nextID atomic.Uint64

// Snapshot exports the redactor's keys and secret values.
func (r *Redactor) Snapshot() Snapshot {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := Snapshot{Keys: make([]string, 0, len(r.keys))}
	for _, fs := range r.sets {
		s.Values = append(s.Values, fs.text...)
		s.Base64 = append(s.Base64, fs.b64...)
	}
	for k := range r.keys {
		s.Keys = append(s.Keys, k)
	}
	sort.Strings(s.Keys)
	return s
}

// FromSnapshot rebuilds a redactor from a Snapshot. Values are taken as
// they are (they already include their encoded forms).
func FromSnapshot(s Snapshot) *Redactor {
	r := &Redactor{keys: make(map[string]bool, len(s.Keys)), keysID: nextID.Add(1)}
	for _, k := range s.Keys {
		r.keys[normKey(k)] = true
	}
	if len(s.Values)+len(s.Base64) > 0 {
		r.sets = []*formSet{newFormSet(s.Values, s.Base64)}
	}
	return r
}
