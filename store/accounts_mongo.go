package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// The console's collections; MongoDB creates them on first insert.
func (s *mongoStore) users() *mongo.Collection    { return s.db.Collection("console_users") }
func (s *mongoStore) sessions() *mongo.Collection { return s.db.Collection("console_sessions") }
func (s *mongoStore) audit() *mongo.Collection    { return s.db.Collection("console_audit") }
func (s *mongoStore) orch() *mongo.Collection     { return s.db.Collection("run_orchestrations") }

type userDoc struct {
	ID      string    `bson:"_id"`
	Hash    string    `bson:"hash"`
	Role    string    `bson:"role"`
	Created time.Time `bson:"created"`
	Updated time.Time `bson:"updated"`
}

func (d userDoc) user() *User {
	return &User{Username: d.ID, PasswordHash: d.Hash, Role: Role(d.Role), Created: d.Created.UTC(), Updated: d.Updated.UTC()}
}

func toUserDoc(u *User) userDoc {
	return userDoc{ID: u.Username, Hash: u.PasswordHash, Role: string(u.Role), Created: u.Created, Updated: u.Updated}
}

func (s *mongoStore) CreateUser(ctx context.Context, u *User) error {
	if err := checkUser(u); err != nil {
		return err
	}
	normUser(u)
	_, err := s.users().InsertOne(ctx, toUserDoc(u))
	return s.wrap("create user "+u.Username, err)
}

func (s *mongoStore) UpdateUser(ctx context.Context, u *User) error {
	if err := checkUser(u); err != nil {
		return err
	}
	normUser(u)
	res, err := s.users().ReplaceOne(ctx, bson.D{{Key: "_id", Value: u.Username}}, toUserDoc(u))
	if err != nil {
		return s.wrap("update user "+u.Username, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("%w: user %s", ErrNotFound, u.Username)
	}
	return nil
}

func (s *mongoStore) GetUser(ctx context.Context, username string) (*User, error) {
	var d userDoc
	if err := s.users().FindOne(ctx, bson.D{{Key: "_id", Value: username}}).Decode(&d); err != nil {
		return nil, s.wrap("user "+username, err)
	}
	return d.user(), nil
}

func (s *mongoStore) ListUsers(ctx context.Context) ([]*User, error) {
	cur, err := s.users().Find(ctx, bson.D{}, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return nil, s.wrap("list users", err)
	}
	var docs []userDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.wrap("list users", err)
	}
	out := make([]*User, len(docs))
	for i, d := range docs {
		out[i] = d.user()
	}
	return out, nil
}

func (s *mongoStore) DeleteUser(ctx context.Context, username string) error {
	// Sessions first: a crash in between leaves a user without sessions,
	// never a session without its user.
	if _, err := s.DeleteUserSessions(ctx, username); err != nil {
		return err
	}
	res, err := s.users().DeleteOne(ctx, bson.D{{Key: "_id", Value: username}})
	if err != nil {
		return s.wrap("delete user "+username, err)
	}
	if res.DeletedCount == 0 {
		return fmt.Errorf("%w: user %s", ErrNotFound, username)
	}
	return nil
}

type sessionDoc struct {
	ID      string    `bson:"_id"`
	User    string    `bson:"user"`
	CSRF    string    `bson:"csrf"`
	Created time.Time `bson:"created"`
	Expires time.Time `bson:"expires"`
	Addr    string    `bson:"addr,omitempty"`
}

func (s *mongoStore) CreateSession(ctx context.Context, se *Session) error {
	if err := checkSession(se); err != nil {
		return err
	}
	se.Created, se.Expires = ms(se.Created), ms(se.Expires)
	_, err := s.sessions().InsertOne(ctx, sessionDoc{ID: se.ID, User: se.Username, CSRF: se.CSRF,
		Created: se.Created, Expires: se.Expires, Addr: se.Addr})
	return s.wrap("create session", err)
}

func (s *mongoStore) GetSession(ctx context.Context, id string, now time.Time) (*Session, error) {
	var d sessionDoc
	if err := s.sessions().FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d); err != nil {
		return nil, s.wrap("session", err)
	}
	if !now.Before(d.Expires) {
		return nil, fmt.Errorf("%w: session", ErrNotFound)
	}
	return &Session{ID: d.ID, Username: d.User, CSRF: d.CSRF, Created: d.Created.UTC(), Expires: d.Expires.UTC(), Addr: d.Addr}, nil
}

func (s *mongoStore) DeleteSession(ctx context.Context, id string) error {
	_, err := s.sessions().DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
	return s.wrap("delete session", err)
}

func (s *mongoStore) DeleteUserSessions(ctx context.Context, username string) (int, error) {
	res, err := s.sessions().DeleteMany(ctx, bson.D{{Key: "user", Value: username}})
	if err != nil {
		return 0, s.wrap("delete sessions of "+username, err)
	}
	return int(res.DeletedCount), nil
}

type auditDoc struct {
	ID     string    `bson:"_id"`
	At     time.Time `bson:"at"`
	Actor  string    `bson:"actor"`
	Action string    `bson:"action"`
	Target string    `bson:"target,omitempty"`
	Detail string    `bson:"detail,omitempty"`
	Addr   string    `bson:"addr,omitempty"`
	OK     bool      `bson:"ok"`
}

func (s *mongoStore) AppendAudit(ctx context.Context, e *AuditEntry) error {
	if err := s.san.audit(e, s.now()); err != nil {
		return err
	}
	_, err := s.audit().InsertOne(ctx, auditDoc{ID: e.ID, At: e.Time, Actor: e.Actor, Action: e.Action,
		Target: e.Target, Detail: e.Detail, Addr: e.Addr, OK: e.OK})
	return s.wrap("append audit entry", err)
}

func (s *mongoStore) ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error) {
	filter := bson.D{}
	if f.Before != "" {
		var b auditDoc
		if err := s.audit().FindOne(ctx, bson.D{{Key: "_id", Value: f.Before}}).Decode(&b); err != nil {
			return nil, s.wrap("page cursor: audit entry "+f.Before, err)
		}
		filter = bson.D{{Key: "$or", Value: bson.A{
			bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: b.At}}}},
			bson.D{{Key: "at", Value: b.At}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: f.Before}}}},
		}}}
	}
	cur, err := s.audit().Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "at", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(int64(listLimit(f.Limit))))
	if err != nil {
		return nil, s.wrap("list audit", err)
	}
	var docs []auditDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.wrap("list audit", err)
	}
	out := make([]*AuditEntry, len(docs))
	for i, d := range docs {
		out[i] = &AuditEntry{ID: d.ID, Time: d.At.UTC(), Actor: d.Actor, Action: d.Action, Target: d.Target,
			Detail: d.Detail, Addr: d.Addr, OK: d.OK}
	}
	return out, nil
}

// orchDoc keeps the calls as JSON text, like run states: header maps and
// bodies round-trip exactly.
type orchDoc struct {
	ID    string `bson:"_id"`
	Items string `bson:"items"`
}

func (s *mongoStore) PutOrchestrations(ctx context.Context, runID string, o []Orchestration) error {
	if runID == "" {
		return invalid("orchestrations need a run id")
	}
	o = s.san.orchestrations(o)
	b := appendOrchestrations(make([]byte, 0, orchestrationsSizeHint(o)), o)
	_, err := s.orch().ReplaceOne(ctx, bson.D{{Key: "_id", Value: runID}}, orchDoc{ID: runID, Items: string(b)},
		options.Replace().SetUpsert(true))
	return s.wrap("put orchestrations of "+runID, err)
}

func (s *mongoStore) Orchestrations(ctx context.Context, runID string) ([]Orchestration, error) {
	var d orchDoc
	err := s.orch().FindOne(ctx, bson.D{{Key: "_id", Value: runID}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil, nil
	}
	if err != nil {
		return nil, s.wrap("orchestrations of "+runID, err)
	}
	var out []Orchestration
	if err := json.Unmarshal([]byte(d.Items), &out); err != nil {
		return nil, fmt.Errorf("store: decode orchestrations of %s: %w", runID, err)
	}
	return out, nil
}

func (s *mongoStore) CullAccounts(ctx context.Context, now time.Time) (int, error) {
	res, err := s.sessions().DeleteMany(ctx, bson.D{{Key: "expires", Value: bson.D{{Key: "$lte", Value: ms(now)}}}})
	if err != nil {
		return 0, s.wrap("cull sessions", err)
	}
	n := int(res.DeletedCount)
	cur, err := s.orch().Find(ctx, bson.D{}, options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
	if err != nil {
		return n, s.wrap("cull orchestrations", err)
	}
	var ids []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &ids); err != nil {
		return n, s.wrap("cull orchestrations", err)
	}
	for start := 0; start < len(ids); start += cullBatch {
		chunk := ids[start:min(start+cullBatch, len(ids))]
		in := make(bson.A, len(chunk))
		for i, d := range chunk {
			in[i] = d.ID
		}
		rc, err := s.runs.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: in}}}},
			options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}))
		if err != nil {
			return n, s.wrap("cull orchestrations", err)
		}
		var live []struct {
			ID string `bson:"_id"`
		}
		if err := rc.All(ctx, &live); err != nil {
			return n, s.wrap("cull orchestrations", err)
		}
		alive := map[string]bool{}
		for _, l := range live {
			alive[l.ID] = true
		}
		var gone bson.A
		for _, d := range chunk {
			if !alive[d.ID] {
				gone = append(gone, d.ID)
			}
		}
		if len(gone) == 0 {
			continue
		}
		res, err := s.orch().DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: gone}}}})
		if err != nil {
			return n, s.wrap("cull orchestrations", err)
		}
		n += int(res.DeletedCount)
	}
	return n, nil
}
