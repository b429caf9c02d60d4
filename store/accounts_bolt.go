package store

import (
	"bytes"
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The console's buckets are created on first write, so a data directory
// from before the console opens unchanged; a read of a missing bucket is
// an empty result.
var (
	bUsers       = []byte("users")
	bSessions    = []byte("sessions")
	bSessionUser = []byte("sessions_by_user") // username \x00 id → nil
	bAudit       = []byte("audit")            // timeKey(time,id) → AuditEntry
	bAuditID     = []byte("audit_ids")        // id → timeKey
	bOrch        = []byte("orchestrations")   // run id → []Orchestration
)

func bucket(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	if tx.Writable() {
		return tx.CreateBucketIfNotExists(name)
	}
	return tx.Bucket(name), nil
}

func (s *boltStore) CreateUser(ctx context.Context, u *User) error {
	if err := checkUser(u); err != nil {
		return err
	}
	normUser(u)
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, err := bucket(tx, bUsers)
		if err != nil {
			return err
		}
		if b.Get([]byte(u.Username)) != nil {
			return fmt.Errorf("%w: user %s already exists", ErrDuplicate, u.Username)
		}
		return putJSON(b, []byte(u.Username), u)
	})
}

func (s *boltStore) UpdateUser(ctx context.Context, u *User) error {
	if err := checkUser(u); err != nil {
		return err
	}
	normUser(u)
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, err := bucket(tx, bUsers)
		if err != nil {
			return err
		}
		if b.Get([]byte(u.Username)) == nil {
			return fmt.Errorf("%w: user %s", ErrNotFound, u.Username)
		}
		return putJSON(b, []byte(u.Username), u)
	})
}

func (s *boltStore) GetUser(ctx context.Context, username string) (*User, error) {
	u := new(User)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bUsers)
		if b == nil {
			return fmt.Errorf("%w: user %s", ErrNotFound, username)
		}
		ok, err := getJSON(b, []byte(username), u)
		if err == nil && !ok {
			err = fmt.Errorf("%w: user %s", ErrNotFound, username)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (s *boltStore) ListUsers(ctx context.Context) ([]*User, error) {
	var out []*User
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bUsers)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			u := new(User)
			if _, err := getJSON(b, k, u); err != nil {
				return err
			}
			out = append(out, u)
			return nil
		})
	})
	return out, err
}

func (s *boltStore) DeleteUser(ctx context.Context, username string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, err := bucket(tx, bUsers)
		if err != nil {
			return err
		}
		if b.Get([]byte(username)) == nil {
			return fmt.Errorf("%w: user %s", ErrNotFound, username)
		}
		if err := b.Delete([]byte(username)); err != nil {
			return err
		}
		_, err = s.deleteUserSessions(tx, username)
		return err
	})
}

func (s *boltStore) CreateSession(ctx context.Context, se *Session) error {
	if err := checkSession(se); err != nil {
		return err
	}
	se.Created, se.Expires = ms(se.Created), ms(se.Expires)
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, byUser, err := sessionBuckets(tx)
		if err != nil {
			return err
		}
		if b.Get([]byte(se.ID)) != nil {
			return fmt.Errorf("%w: session", ErrDuplicate)
		}
		if err := putJSON(b, []byte(se.ID), se); err != nil {
			return err
		}
		return byUser.Put(sessionUserKey(se.Username, se.ID), nil)
	})
}

// sessionBuckets returns the sessions and their by-user index (writable tx).
func sessionBuckets(tx *bolt.Tx) (*bolt.Bucket, *bolt.Bucket, error) {
	b, err := bucket(tx, bSessions)
	if err != nil {
		return nil, nil, err
	}
	byUser, err := bucket(tx, bSessionUser)
	return b, byUser, err
}

func sessionUserKey(username, id string) []byte {
	return append(append([]byte(username), 0), id...)
}

func (s *boltStore) GetSession(ctx context.Context, id string, now time.Time) (*Session, error) {
	se := new(Session)
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bSessions)
		if b == nil {
			return fmt.Errorf("%w: session", ErrNotFound)
		}
		ok, err := getJSON(b, []byte(id), se)
		if err == nil && (!ok || !now.Before(se.Expires)) {
			err = fmt.Errorf("%w: session", ErrNotFound)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return se, nil
}

func (s *boltStore) DeleteSession(ctx context.Context, id string) error {
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, byUser, err := sessionBuckets(tx)
		if err != nil {
			return err
		}
		var se Session
		ok, err := getJSON(b, []byte(id), &se)
		if err != nil || !ok {
			return err
		}
		if err := byUser.Delete(sessionUserKey(se.Username, id)); err != nil {
			return err
		}
		return b.Delete([]byte(id))
	})
}

func (s *boltStore) DeleteUserSessions(ctx context.Context, username string) (int, error) {
	n := 0
	err := s.update(ctx, func(tx *bolt.Tx) error {
		var err error
		n, err = s.deleteUserSessions(tx, username)
		return err
	})
	return n, err
}

func (s *boltStore) deleteUserSessions(tx *bolt.Tx, username string) (int, error) {
	b, byUser, err := sessionBuckets(tx)
	if err != nil {
		return 0, err
	}
	prefix := append([]byte(username), 0)
	var ids [][]byte
	c := byUser.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, bytes.Clone(k[len(prefix):]))
	}
	for _, id := range ids {
		if err := b.Delete(id); err != nil {
			return 0, err
		}
	}
	return len(ids), deletePrefix(byUser, prefix)
}

func (s *boltStore) AppendAudit(ctx context.Context, e *AuditEntry) error {
	if err := s.san.audit(e, s.now()); err != nil {
		return err
	}
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, err := bucket(tx, bAudit)
		if err != nil {
			return err
		}
		ids, err := bucket(tx, bAuditID)
		if err != nil {
			return err
		}
		if ids.Get([]byte(e.ID)) != nil {
			return fmt.Errorf("%w: audit entry %s", ErrDuplicate, e.ID)
		}
		k := timeKey(e.Time, e.ID)
		if err := ids.Put([]byte(e.ID), k); err != nil {
			return err
		}
		return putJSON(b, k, e)
	})
}

func (s *boltStore) ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error) {
	limit := listLimit(f.Limit)
	var out []*AuditEntry
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b, ids := tx.Bucket(bAudit), tx.Bucket(bAuditID)
		if b == nil || ids == nil {
			if f.Before != "" {
				return fmt.Errorf("%w: audit entry %s", ErrNotFound, f.Before)
			}
			return nil
		}
		c := b.Cursor()
		k, _ := c.Last()
		if f.Before != "" {
			start := ids.Get([]byte(f.Before))
			if start == nil {
				return fmt.Errorf("%w: audit entry %s", ErrNotFound, f.Before)
			}
			c.Seek(start)
			k, _ = c.Prev()
		}
		for ; k != nil && len(out) < limit; k, _ = c.Prev() {
			e := new(AuditEntry)
			if _, err := getJSON(b, k, e); err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

func (s *boltStore) PutOrchestrations(ctx context.Context, runID string, o []Orchestration) error {
	if runID == "" {
		return invalid("orchestrations need a run id")
	}
	o = s.san.orchestrations(o)
	v := appendOrchestrations(make([]byte, 0, orchestrationsSizeHint(o)), o)
	return s.update(ctx, func(tx *bolt.Tx) error {
		b, err := bucket(tx, bOrch)
		if err != nil {
			return err
		}
		return b.Put([]byte(runID), v)
	})
}

func (s *boltStore) Orchestrations(ctx context.Context, runID string) ([]Orchestration, error) {
	var out []Orchestration
	err := s.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bOrch)
		if b == nil {
			return nil
		}
		_, err := getJSON(b, []byte(runID), &out)
		return err
	})
	return out, err
}

func (s *boltStore) CullAccounts(ctx context.Context, now time.Time) (int, error) {
	n := 0
	err := s.update(ctx, func(tx *bolt.Tx) error {
		sessions, byUser, err := sessionBuckets(tx)
		if err != nil {
			return err
		}
		var doomed []Session
		err = sessions.ForEach(func(k, v []byte) error {
			var se Session
			if _, err := getJSON(sessions, k, &se); err != nil {
				return err
			}
			if !now.Before(se.Expires) {
				doomed = append(doomed, se)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, se := range doomed {
			if err := sessions.Delete([]byte(se.ID)); err != nil {
				return err
			}
			if err := byUser.Delete(sessionUserKey(se.Username, se.ID)); err != nil {
				return err
			}
		}
		orch, err := bucket(tx, bOrch)
		if err != nil {
			return err
		}
		runs := tx.Bucket(bRuns)
		var orphans [][]byte
		err = orch.ForEach(func(k, _ []byte) error {
			if runs.Get(k) == nil {
				orphans = append(orphans, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range orphans {
			if err := orch.Delete(k); err != nil {
				return err
			}
		}
		n = len(doomed) + len(orphans)
		return nil
	})
	return n, err
}
