package mediator

import (
	"net/http/httptest"
	"testing"
	"time"
)

// BenchmarkTokenHeaders is the per-request cost of the legacy token scheme.
func BenchmarkTokenHeaders(b *testing.B) {
	hash := PasswordHash(rootSalt, rootPassword)
	now := time.Now()
	for b.Loop() {
		_ = TokenHeaders(rootEmail, hash, newSalt(), now)
	}
}

// BenchmarkWriteResponse is the cost of answering core with an envelope.
func BenchmarkWriteResponse(b *testing.B) {
	r := goodResponse()
	for b.Loop() {
		w := httptest.NewRecorder()
		if err := WriteResponse(w, r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewObjectID(b *testing.B) {
	for b.Loop() {
		_ = NewObjectID()
	}
}
