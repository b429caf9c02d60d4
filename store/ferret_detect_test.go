package store

import (
	"context"
	"testing"

	"github.com/jobmediator/jobmediator/internal/ferret"
)

func TestDetectsFerretDB(t *testing.T) {
	srv := ferret.Start(t)
	s, err := Open(context.Background(), Config{MongoURL: srv.URI(), Database: "detect"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.(*journal).Store.(*mongoStore).ferret {
		t.Fatal("FerretDB not detected from buildInfo")
	}
}
