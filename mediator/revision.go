package mediator

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// revisionState is what NextRevision keeps on disk.
type revisionState struct {
	Hash     string `json:"hash"`
	Revision int64  `json:"revision"`
}

// NextRevision returns the Revision to register reg with, persisting it in
// the JSON file at path (in the mediator's state directory). The revision
// stays the same while the document's ContentHash stays the same, and grows
// when it changes: to the current Unix time, or to the previous revision + 1
// when the clock is behind. Starting from the clock means a lost state file
// still yields a revision above any earlier one, as long as the clock is
// sane.
func NextRevision(path string, reg Registration, now time.Time) (int64, error) {
	if path == "" {
		return 0, errors.New("openhim: registration revision file path is empty")
	}
	hash := ContentHash(reg)
	var st revisionState
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if jerr := json.Unmarshal(b, &st); jerr != nil {
			// A corrupt file is replaced: the clock keeps the order.
			st = revisionState{}
		}
	case errors.Is(err, os.ErrNotExist):
	default:
		return 0, fmt.Errorf("openhim: reading registration revision: %w", err)
	}
	if st.Hash == hash && st.Revision > 0 {
		return st.Revision, nil
	}
	rev := max(now.Unix(), st.Revision+1)
	if rev >= revisionSpan {
		return 0, fmt.Errorf("openhim: registration revision %d out of range", rev)
	}
	out, _ := json.Marshal(revisionState{Hash: hash, Revision: rev})
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, fmt.Errorf("openhim: saving registration revision: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, out, 0o644); err != nil {
		return 0, fmt.Errorf("openhim: saving registration revision: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, fmt.Errorf("openhim: saving registration revision: %w", err)
	}
	return rev, nil
}
