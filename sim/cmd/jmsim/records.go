package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/jobmediator/jobmediator/sim/simkit"
)

// runRecords serves a tiny records API for the README tour: POST /records
// stores a JSON body and answers 201 {id, stored}; GET /records lists them.
// It is the "upstream" the hello-upstream example posts to.
func runRecords(args []string, out, errOut io.Writer, wait func()) error {
	fs := newFlags("records", out, errOut)
	addr := fs.String("addr", "127.0.0.1:4010", "listen address")
	if err := parse(fs, args); err != nil {
		return err
	}
	ln, err := simkit.Listen("records", *addr, recordsHandler())
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Fprintf(out, "records API on %s (POST/GET /records). Ctrl-C to stop.\n", ln.URL())
	wait()
	return nil
}

func recordsHandler() http.Handler {
	var mu sync.Mutex
	var stored []any
	mux := http.NewServeMux()
	mux.HandleFunc("/records", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.Method {
		case http.MethodPost:
			var v any
			if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&v); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				json.NewEncoder(w).Encode(map[string]string{"error": "body is not JSON: " + err.Error()})
				return
			}
			mu.Lock()
			stored = append(stored, v)
			id := len(stored)
			mu.Unlock()
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(map[string]any{"id": id, "stored": true})
		case http.MethodGet:
			mu.Lock()
			defer mu.Unlock()
			json.NewEncoder(w).Encode(map[string]any{"records": stored})
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	})
	return mux
}
