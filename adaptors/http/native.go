package http

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/jobmediator/jobmediator/adaptors"
	"github.com/jobmediator/jobmediator/adaptors/recorder"
	"github.com/jobmediator/jobmediator/internal/jsonvalue"
)

// native gives language-http ≥7's get, post, put, patch and del a VM-free
// form for declarative jobs (`post('/records', $.data)`, adaptors/native.go):
// the same request modernRequest builds from (path, data) with no options,
// and on a status below 400 the body that composeNextState puts in data.
// Whatever it cannot promise to do exactly as the VM would, it declines
// before sending (options, tls, a URL the VM would reject, a non-string
// credential field) or, once sent, hands to the VM as a replay (an error
// status, a transport error, a body the VM would read differently).
func native(v adaptors.Version, name string) adaptors.NativeOp {
	if v.Major < 7 {
		return nil
	}
	switch name {
	case "get":
		return nativeOp(http.MethodGet, false)
	case "del":
		return nativeOp(http.MethodDelete, false)
	case "post":
		return nativeOp(http.MethodPost, true)
	case "put":
		return nativeOp(http.MethodPut, true)
	case "patch":
		return nativeOp(http.MethodPatch, true)
	}
	return nil
}

func nativeOp(method string, withData bool) adaptors.NativeOp {
	return func(call *adaptors.NativeCall) adaptors.NativeResult {
		declined := adaptors.NativeResult{Declined: true}
		// (path[, data][, options]): get and del take no data
		n := 1
		if withData {
			n = 2
		}
		if len(call.Args) == 0 || len(call.Args) > n+1 || call.Args[0].Kind != adaptors.NativeString {
			return declined
		}
		var names, values []string
		if len(call.Args) == n+1 {
			var ok bool
			if names, values, ok = nativeHeaders(call.Args[n]); !ok {
				return declined
			}
		}
		req, ok := nativeRequest(method, call.Args[0].Str, call.Conf, names, values)
		if !ok {
			return declined
		}
		var body []byte
		if withData && len(call.Args) >= 2 {
			// modernRequest: a string is sent as it is, anything else
			// present as JSON; both as application/json unless the job
			// gave a content type
			switch d := call.Args[1]; d.Kind {
			case adaptors.NativeString:
				body = []byte(d.Str)
			case adaptors.NativeJSON:
				body = d.JSON
			}
			if body != nil && !hasName(names, "content-type") {
				req.Header.Set("Content-Type", "application/json")
			}
		}
		client := call.Run.HTTP
		if client == nil {
			client = recorder.NewClient(nil, nil)
		}
		res, err := httpRequest.Send(call.Run, client, req, body)
		if err != nil {
			return adaptors.NativeResult{Replay: &recorder.Replay{Err: err}}
		}
		replay := adaptors.NativeResult{Replay: &recorder.Replay{Resp: res}}
		if res.Status >= 400 || !utf8.Valid(res.Body) {
			return replay
		}
		// parseBody with no parseAs
		var data []byte
		ct := strings.Join(res.Header.Values("Content-Type"), ", ")
		switch {
		case res.Status == 204 || len(res.Body) == 0:
		case ct != "" && (strings.Contains(ct, "application/json") || strings.Contains(ct, "+json")) && jsonvalue.Valid(res.Body):
			if data, ok = jsonvalue.AppendCanonical(nil, res.Body); !ok {
				return replay
			}
		default:
			if strings.ContainsRune(string(res.Body), utf8.RuneError) {
				return replay
			}
			data = jsonvalue.AppendJSString(nil, string(res.Body))
		}
		call.Run.Log("info", method+" "+res.URL+" - "+strconv.Itoa(res.Status)+" in "+strconv.FormatInt(res.Duration.Milliseconds(), 10)+"ms")
		return adaptors.NativeResult{Data: data, Lead: executeLead}
	}
}

// executeLead: http.js's execute starts from Object.assign({references:
// [], data: null}, state).
var executeLead = []string{"references", "data"}

// nativeRequest is modernRequest's URL and Authorization for a path and
// configuration with no request options; false where the VM would throw
// or read a value this does not (then nothing is sent).
func nativeRequest(method, path string, conf map[string]any, names, values []string) (*http.Request, bool) {
	if _, ok := conf["tls"]; ok {
		return nil, false
	}
	base, hasBase := "", jsonvalue.Truthy(conf["baseUrl"])
	if hasBase {
		s, ok := conf["baseUrl"].(string)
		if !ok {
			return nil, false
		}
		base = s
	}
	var url string
	switch {
	case isAbsolute(path):
		if hasBase && !strings.EqualFold(splitURL(path).origin, splitURL(base).origin) {
			return nil, false // BASE_URL_MISMATCH
		}
		url = path
	case !hasBase:
		return nil, false // UNEXPECTED_RELATIVE_URL, NO_URL
	default:
		url = joinURL(base, path)
	}
	req, err := httpRequest.NewRequest(method, url)
	if err != nil {
		return nil, false
	}
	for i, name := range names {
		req.Header.Set(name, values[i])
	}
	if hasBase && !hasName(names, "authorization") {
		if tok := conf["access_token"]; jsonvalue.Truthy(tok) {
			s, ok := tok.(string)
			if !ok {
				return nil, false
			}
			req.Header.Set("Authorization", "Bearer "+s)
		} else if user := conf["username"]; jsonvalue.Truthy(user) {
			u, ok := user.(string)
			pass, pok := conf["password"].(string)
			if !ok || !pok && conf["password"] != nil {
				return nil, false
			}
			req.Header.Set("Authorization", basicAuth(u, pass))
		}
	}
	return req, true
}

// nativeHeaders reads an options argument that holds nothing but headers
// of string values ({ headers: { 'X-A': '1' } }); false for anything else
// (query, parseAs, errors, tls, … are the VM's) and for two names equal
// but for case (which of them wins is the VM's object order).
func nativeHeaders(a adaptors.NativeArg) (names, values []string, ok bool) {
	if a.Kind != adaptors.NativeJSON || a.JSON[0] != '{' {
		return nil, nil, false
	}
	var hdr []byte
	ok = true
	jsonvalue.Members(a.JSON, func(k, v []byte) {
		if !jsonvalue.KeyIs(k, "headers") || v[0] != '{' {
			ok = false
		}
		hdr = v
	})
	if !ok || hdr == nil {
		return nil, nil, ok
	}
	jsonvalue.Members(hdr, func(k, v []byte) {
		var name, value string
		if v[0] != '"' || json.Unmarshal(k, &name) != nil || json.Unmarshal(v, &value) != nil || hasName(names, strings.ToLower(name)) {
			ok = false
			return
		}
		names, values = append(names, name), append(values, value)
	})
	return names, values, ok
}
