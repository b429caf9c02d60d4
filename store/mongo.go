package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/jobmediator/jobmediator/internal/redact"
)

// mongoStore keeps everything in one MongoDB database.
//
// Compare-and-set without transactions: every document that changes state
// under contention (messages, cursors, schedule leases) carries a revision
// `rev`. A writer reads the document, checks its precondition, then inserts
// a token `<collection>/<id>/<rev+1>` into the `tokens` collection (unique
// _id, so exactly one writer wins that revision) and only then replaces the
// document where rev is unchanged. On MongoDB the conditional replace alone
// would suffice; the token is what makes the same code correct on FerretDB
// v1, whose findAndModify/update evaluate the filter and write the document
// in separate steps (two racing claimers could both "win"). An insert into a
// unique index is atomic everywhere.
type mongoStore struct {
	client  *mongo.Client
	db      *mongo.Database
	safeURL string
	red     *redact.Redactor // scrubs the URL's password from driver errors
	san     sanitizer
	now     func() time.Time

	runs, logs, cursors, msgs, leases, tokens *mongo.Collection

	// ferret is true when the server is FerretDB (buildInfo says so); see cas.
	ferret bool
}

// tokenStale is how old a revision token must be, with its document still
// at the previous revision, before it is treated as left by a writer that
// died between the token insert and the replace.
const tokenStale = time.Minute

func openMongo(ctx context.Context, rawURL, database string, timeout time.Duration, san sanitizer, now func() time.Time) (*mongoStore, error) {
	red := redact.New()
	safe := red.URL(rawURL)
	if u, err := parseMongoURL(rawURL); err != nil {
		return nil, err
	} else if u.pass != "" {
		red.AddValues(u.pass)
	}
	opts := options.Client().ApplyURI(rawURL).
		SetServerSelectionTimeout(timeout).
		SetConnectTimeout(timeout).
		SetAppName("jobmediator")
	client, err := mongo.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("store: mongo %s: connect: %s", safe, red.String(err.Error()))
	}
	db := client.Database(database)
	s := &mongoStore{
		client: client, db: db, safeURL: safe, red: red, san: san, now: now,
		runs: db.Collection("runs"), logs: db.Collection("run_logs"), cursors: db.Collection("cursors"),
		msgs: db.Collection("messages"), leases: db.Collection("leases"), tokens: db.Collection("tokens"),
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.Ping(pctx); err != nil {
		_ = client.Disconnect(context.Background()) // the ping error is the news
		return nil, err
	}
	var info bson.M
	if err := db.RunCommand(pctx, bson.D{{Key: "buildInfo", Value: 1}}).Decode(&info); err == nil {
		_, s.ferret = info["ferretdbVersion"]
	}
	if err := s.createIndexes(pctx); err != nil {
		_ = client.Disconnect(context.Background()) // the index error is the news
		return nil, err
	}
	return s, nil
}

type mongoURL struct{ pass string }

func parseMongoURL(raw string) (mongoURL, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || (scheme != "mongodb" && scheme != "mongodb+srv") {
		return mongoURL{}, invalid("mongo URL %q must start with mongodb:// or mongodb+srv://", redact.New().URL(raw))
	}
	// Userinfo ends at the last '@' before the host list.
	hostPart, _, _ := strings.Cut(rest, "/")
	var out mongoURL
	if at := strings.LastIndex(hostPart, "@"); at >= 0 {
		if _, pass, has := strings.Cut(hostPart[:at], ":"); has {
			out.pass = pass
		}
	}
	return out, nil
}

// databaseFromURL returns the path component of a Mongo URL ("" for none).
func databaseFromURL(raw string) string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return ""
	}
	_, path, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	path, _, _ = strings.Cut(path, "?")
	return path
}

func (s *mongoStore) createIndexes(ctx context.Context) error {
	type namedIndex struct {
		name  string
		model mongo.IndexModel
	}
	idx := func(name string, keys bson.D, unique bool) namedIndex {
		o := options.Index().SetName(name)
		if unique {
			o.SetUnique(true)
		}
		return namedIndex{name, mongo.IndexModel{Keys: keys, Options: o}}
	}
	sets := []struct {
		c      *mongo.Collection
		models []namedIndex
	}{
		{s.runs, []namedIndex{
			idx("started", bson.D{{Key: "started", Value: -1}, {Key: "_id", Value: -1}}, false),
			idx("workflow_started", bson.D{{Key: "workflow", Value: 1}, {Key: "started", Value: -1}}, false),
			idx("transaction", bson.D{{Key: "transactionId", Value: 1}}, false),
			idx("parent", bson.D{{Key: "parentId", Value: 1}}, false),
		}},
		{s.logs, []namedIndex{idx("run_seq", bson.D{{Key: "run", Value: 1}, {Key: "seq", Value: 1}}, false)}},
		{s.msgs, []namedIndex{
			idx("idem", bson.D{{Key: "idem", Value: 1}}, true),
			idx("status_due", bson.D{{Key: "status", Value: 1}, {Key: "due", Value: 1}}, false),
		}},
		{s.tokens, []namedIndex{idx("at", bson.D{{Key: "at", Value: 1}}, false)}},
	}
	for _, set := range sets {
		// Create only missing indexes: re-creating existing ones is a no-op
		// on MongoDB but crashes FerretDB v1's createIndexes handler.
		have, err := s.indexNames(ctx, set.c)
		if err != nil {
			return err
		}
		var missing []mongo.IndexModel
		for _, m := range set.models {
			if !have[m.name] {
				missing = append(missing, m.model)
			}
		}
		if len(missing) == 0 {
			continue
		}
		if _, err := set.c.Indexes().CreateMany(ctx, missing); err != nil {
			return s.wrap("create indexes on "+set.c.Name(), err)
		}
	}
	return nil
}

func (s *mongoStore) indexNames(ctx context.Context, c *mongo.Collection) (map[string]bool, error) {
	cur, err := c.Indexes().List(ctx)
	if err != nil {
		return nil, s.wrap("list indexes on "+c.Name(), err)
	}
	var specs []struct {
		Name string `bson:"name"`
	}
	if err := cur.All(ctx, &specs); err != nil {
		return nil, s.wrap("list indexes on "+c.Name(), err)
	}
	have := map[string]bool{}
	for _, sp := range specs {
		have[sp.Name] = true
	}
	return have, nil
}

// wrap turns driver errors into store errors, so no driver type escapes
// and no credential does either.
func (s *mongoStore) wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, mongo.ErrNoDocuments):
		return fmt.Errorf("%w: %s", ErrNotFound, op)
	case mongo.IsDuplicateKeyError(err):
		return fmt.Errorf("%w: %s", ErrDuplicate, op)
	case errors.Is(err, mongo.ErrClientDisconnected):
		return fmt.Errorf("%w: %s", ErrClosed, op)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("store: mongo %s: %s: %w", s.safeURL, op, ctxErr(err))
	}
	return fmt.Errorf("store: mongo %s: %s: %s", s.safeURL, op, s.red.String(err.Error()))
}

func ctxErr(err error) error {
	if errors.Is(err, context.Canceled) {
		return context.Canceled
	}
	return context.DeadlineExceeded
}

// ---- documents ----

type stepDoc struct {
	ID       string    `bson:"id"`
	Job      string    `bson:"job,omitempty"`
	Name     string    `bson:"name,omitempty"`
	Status   string    `bson:"status"`
	Started  time.Time `bson:"started"`
	Finished time.Time `bson:"finished,omitempty"`
	Error    string    `bson:"error,omitempty"`
	Output   string    `bson:"output,omitempty"` // JSON text: keeps key order and number precision
	// OutputIsRun stands for an output equal to the run's (the last
	// step's, usually), which is then stored once.
	OutputIsRun bool `bson:"outputIsRun,omitempty"`
}

type runDoc struct {
	ID             string    `bson:"_id"`
	Workflow       string    `bson:"workflow"`
	Trigger        string    `bson:"trigger,omitempty"`
	Status         string    `bson:"status"`
	TransactionID  string    `bson:"transactionId,omitempty"`
	ParentID       string    `bson:"parentId,omitempty"`
	TaskID         string    `bson:"taskId,omitempty"`
	MessageID      string    `bson:"messageId,omitempty"`
	Version        string    `bson:"version,omitempty"`
	Input          string    `bson:"input,omitempty"`
	Output         string    `bson:"output,omitempty"`
	Steps          []stepDoc `bson:"steps,omitempty"`
	Error          string    `bson:"error,omitempty"`
	Started        time.Time `bson:"started"`
	Finished       time.Time `bson:"finished,omitempty"`
	Attempt        int       `bson:"attempt,omitempty"`
	Orchestrations int       `bson:"orchestrations,omitempty"`
}

func raw(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func toRunDoc(r *Run) runDoc {
	d := runDoc{ID: r.ID, Workflow: r.Workflow, Trigger: r.Trigger, Status: string(r.Status),
		TransactionID: r.TransactionID, ParentID: r.ParentID, TaskID: r.TaskID, MessageID: r.MessageID,
		Version: r.Version, Input: string(r.Input), Output: string(r.Output), Error: r.Error,
		Started: r.Started, Finished: r.Finished, Attempt: r.Attempt, Orchestrations: r.Orchestrations}
	for _, st := range r.Steps {
		sd := stepDoc{ID: st.ID, Job: st.Job, Name: st.Name, Status: string(st.Status),
			Started: st.Started, Finished: st.Finished, Error: st.Error}
		if len(st.Output) > 0 && bytes.Equal(st.Output, r.Output) {
			sd.OutputIsRun = true
		} else {
			sd.Output = string(st.Output)
		}
		d.Steps = append(d.Steps, sd)
	}
	return d
}

func (d *runDoc) run() *Run {
	r := &Run{ID: d.ID, Workflow: d.Workflow, Trigger: d.Trigger, Status: RunStatus(d.Status),
		TransactionID: d.TransactionID, ParentID: d.ParentID, TaskID: d.TaskID, MessageID: d.MessageID,
		Version: d.Version, Input: raw(d.Input), Output: raw(d.Output), Error: d.Error,
		Started: ms(d.Started), Finished: ms(d.Finished), Attempt: d.Attempt, Orchestrations: d.Orchestrations}
	for _, st := range d.Steps {
		out := raw(st.Output)
		if st.OutputIsRun {
			out = r.Output
		}
		r.Steps = append(r.Steps, StepRecord{ID: st.ID, Job: st.Job, Name: st.Name, Status: RunStatus(st.Status),
			Started: ms(st.Started), Finished: ms(st.Finished), Error: st.Error, Output: out})
	}
	return r
}

type logDoc struct {
	ID    string       `bson:"_id"`
	Run   string       `bson:"run"`
	Seq   int64        `bson:"seq"`
	Lines []logLineDoc `bson:"lines"`
}

type logLineDoc struct {
	Time    time.Time `bson:"t"`
	Level   string    `bson:"l"`
	Step    string    `bson:"s,omitempty"`
	Message string    `bson:"m"`
}

type cursorDoc struct {
	Key     string    `bson:"_id"`
	Value   string    `bson:"value"`
	Version int64     `bson:"version"`
	Updated time.Time `bson:"updated"`
}

type msgDoc struct {
	ID             string    `bson:"_id"`
	Rev            int64     `bson:"rev"`
	Kind           string    `bson:"kind"`
	Workflow       string    `bson:"workflow"`
	Lane           string    `bson:"lane"`
	Payload        string    `bson:"payload,omitempty"`
	Idem           string    `bson:"idem"` // IdempotencyKey, or "\x00id:"+ID so the unique index needs no partial filter
	IdempotencyKey string    `bson:"idempotencyKey,omitempty"`
	Status         string    `bson:"status"`
	Attempts       int       `bson:"attempts"`
	MaxAttempts    int       `bson:"maxAttempts"`
	Due            time.Time `bson:"due"`
	Owner          string    `bson:"owner,omitempty"`
	LeaseUntil     time.Time `bson:"leaseUntil"`
	LastError      string    `bson:"lastError,omitempty"`
	Created        time.Time `bson:"created"`
	Updated        time.Time `bson:"updated"`
}

func toMsgDoc(m *Message, rev int64) msgDoc {
	idem := m.IdempotencyKey
	if idem == "" {
		idem = "\x00id:" + m.ID
	}
	return msgDoc{ID: m.ID, Rev: rev, Kind: string(m.Kind), Workflow: m.Workflow, Lane: m.Lane,
		Payload: string(m.Payload), Idem: idem, IdempotencyKey: m.IdempotencyKey, Status: string(m.Status),
		Attempts: m.Attempts, MaxAttempts: m.MaxAttempts, Due: m.Due, Owner: m.Owner, LeaseUntil: m.LeaseUntil,
		LastError: m.LastError, Created: m.Created, Updated: m.Updated}
}

func (d *msgDoc) message() *Message {
	return &Message{ID: d.ID, Kind: MessageKind(d.Kind), Workflow: d.Workflow, Lane: d.Lane,
		Payload: raw(d.Payload), IdempotencyKey: d.IdempotencyKey, Status: MessageStatus(d.Status),
		Attempts: d.Attempts, MaxAttempts: d.MaxAttempts, Due: ms(d.Due), Owner: d.Owner,
		LeaseUntil: ms(d.LeaseUntil), LastError: d.LastError, Created: ms(d.Created), Updated: ms(d.Updated)}
}

type leaseDoc struct {
	Name  string    `bson:"_id"`
	Rev   int64     `bson:"rev"`
	Owner string    `bson:"owner"`
	Until time.Time `bson:"until"`
}

type tokenDoc struct {
	ID string    `bson:"_id"`
	At time.Time `bson:"at"`
}

// ---- compare-and-set ----

// cas replaces document id of coll, currently at revision rev (field
// revField), with doc (already carrying rev+1). ErrConflict when another
// writer got that revision first.
func (s *mongoStore) cas(ctx context.Context, coll *mongo.Collection, revField, id string, rev int64, doc any) error {
	tok := coll.Name() + "/" + id + "/" + strconv.FormatInt(rev+1, 10)
	now := time.Now()
	if _, err := s.tokens.InsertOne(ctx, tokenDoc{ID: tok, At: now}); err != nil {
		if !mongo.IsDuplicateKeyError(err) {
			return s.wrap("take revision token "+tok, err)
		}
		if !s.clearStaleToken(ctx, tok, now) {
			return fmt.Errorf("%w: %s %s changed concurrently", ErrConflict, coll.Name(), id)
		}
		if _, err := s.tokens.InsertOne(ctx, tokenDoc{ID: tok, At: now}); err != nil {
			if mongo.IsDuplicateKeyError(err) {
				return fmt.Errorf("%w: %s %s changed concurrently", ErrConflict, coll.Name(), id)
			}
			return s.wrap("take revision token "+tok, err)
		}
	}
	filter := bson.D{{Key: "_id", Value: id}, {Key: revField, Value: rev}}
	if s.ferret {
		// FerretDB v1 only uses its primary key for a filter that is
		// exactly {_id}; anything more scans the collection. The token
		// already makes this writer the only one for rev+1, and FerretDB's
		// update would not evaluate the rev condition atomically anyway.
		filter = filter[:1]
	}
	res, err := coll.ReplaceOne(ctx, filter, doc)
	if err != nil || res.MatchedCount == 0 {
		// Give the revision back so a later writer is not blocked until the
		// token goes stale; best effort (the stale check covers failure).
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, _ = s.tokens.DeleteOne(dctx, bson.D{{Key: "_id", Value: tok}, {Key: "at", Value: now}})
		cancel()
		if err != nil {
			return s.wrap("update "+coll.Name()+" "+id, err)
		}
		return fmt.Errorf("%w: %s %s changed concurrently", ErrConflict, coll.Name(), id)
	}
	return nil
}

// clearStaleToken removes tok when it is older than tokenStale. The caller
// has just read the document at the token's previous revision, so an old
// token means its writer died before replacing the document.
func (s *mongoStore) clearStaleToken(ctx context.Context, tok string, now time.Time) bool {
	var t tokenDoc
	if err := s.tokens.FindOne(ctx, bson.D{{Key: "_id", Value: tok}}).Decode(&t); err != nil {
		return errors.Is(err, mongo.ErrNoDocuments)
	}
	if now.Sub(t.At) < tokenStale {
		return false
	}
	_, err := s.tokens.DeleteOne(ctx, bson.D{{Key: "_id", Value: tok}, {Key: "at", Value: t.At}})
	return err == nil
}

// ---- runs ----

func (s *mongoStore) CreateRun(ctx context.Context, r *Run) error {
	if r != nil && r.ID == "" {
		r.ID = NewID()
	}
	if err := s.san.run(r); err != nil {
		return err
	}
	_, err := s.runs.InsertOne(ctx, toRunDoc(r))
	return s.wrap("create run "+r.ID, err)
}

func (s *mongoStore) UpdateRun(ctx context.Context, r *Run) error {
	if r != nil && r.ID == "" {
		return invalid("update needs a run id")
	}
	if err := s.san.run(r); err != nil {
		return err
	}
	res, err := s.runs.ReplaceOne(ctx, bson.D{{Key: "_id", Value: r.ID}}, toRunDoc(r))
	if err != nil {
		return s.wrap("update run "+r.ID, err)
	}
	if res.MatchedCount == 0 {
		return fmt.Errorf("%w: run %s", ErrNotFound, r.ID)
	}
	return nil
}

func (s *mongoStore) GetRun(ctx context.Context, id string) (*Run, error) {
	var d runDoc
	if err := s.runs.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d); err != nil {
		return nil, s.wrap("run "+id, err)
	}
	return d.run(), nil
}

var newestFirst = bson.D{{Key: "started", Value: -1}, {Key: "_id", Value: -1}}

func (s *mongoStore) ListRuns(ctx context.Context, f RunFilter) ([]*Run, error) {
	and := bson.A{}
	eq := func(field, v string) {
		if v != "" {
			and = append(and, bson.D{{Key: field, Value: v}})
		}
	}
	eq("workflow", f.Workflow)
	eq("status", string(f.Status))
	eq("transactionId", f.TransactionID)
	eq("parentId", f.ParentID)
	if !f.Since.IsZero() {
		and = append(and, bson.D{{Key: "started", Value: bson.D{{Key: "$gte", Value: ms(f.Since)}}}})
	}
	if !f.Until.IsZero() {
		and = append(and, bson.D{{Key: "started", Value: bson.D{{Key: "$lt", Value: ms(f.Until)}}}})
	}
	if f.Before != "" {
		var b runDoc
		err := s.runs.FindOne(ctx, bson.D{{Key: "_id", Value: f.Before}},
			options.FindOne().SetProjection(bson.D{{Key: "started", Value: 1}})).Decode(&b)
		if err != nil {
			return nil, s.wrap("page cursor: run "+f.Before, err)
		}
		and = append(and, bson.D{{Key: "$or", Value: bson.A{
			bson.D{{Key: "started", Value: bson.D{{Key: "$lt", Value: b.Started}}}},
			bson.D{{Key: "started", Value: b.Started}, {Key: "_id", Value: bson.D{{Key: "$lt", Value: f.Before}}}},
		}}})
	}
	filter := bson.D{}
	if len(and) > 0 {
		filter = bson.D{{Key: "$and", Value: and}}
	}
	cur, err := s.runs.Find(ctx, filter, options.Find().SetSort(newestFirst).SetLimit(int64(listLimit(f.Limit))))
	if err != nil {
		return nil, s.wrap("list runs", err)
	}
	var docs []runDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.wrap("list runs", err)
	}
	out := make([]*Run, len(docs))
	for i := range docs {
		out[i] = docs[i].run()
	}
	return out, nil
}

func (s *mongoStore) FindRunByTransaction(ctx context.Context, txID string) (*Run, error) {
	if txID == "" {
		return nil, invalid("transaction id is empty")
	}
	var d runDoc
	err := s.runs.FindOne(ctx, bson.D{{Key: "transactionId", Value: txID}}, options.FindOne().SetSort(newestFirst)).Decode(&d)
	if err != nil {
		return nil, s.wrap("run for transaction "+txID, err)
	}
	return d.run(), nil
}

// logSeq orders log documents appended by this process; within a run only
// one worker appends, so a per-process clock-based sequence suffices.
var logSeq atomic.Int64

func nextLogSeq() int64 {
	for {
		now, last := time.Now().UnixNano(), logSeq.Load()
		if now <= last {
			now = last + 1
		}
		if logSeq.CompareAndSwap(last, now) {
			return now
		}
	}
}

// Log lines are stored in chunks (one document per append, split so a
// document stays far below the 16 MiB limit).
const logChunkBytes = 4 << 20

// recordRuns writes a journal batch with one unordered InsertMany of runs
// and one of log chunks; a duplicate run ID fails only that run.
func (s *mongoStore) recordRuns(ctx context.Context, recs []*runRecord) error {
	ready, logs, logErrs := prepareBatch(s.san, recs)
	if err := s.putOrchestrationsBatch(ctx, recs); err != nil {
		return err
	}
	if len(ready) == 0 {
		return nil
	}
	docs := make([]any, len(ready))
	for i, rec := range ready {
		docs[i] = toRunDoc(rec.run)
		rec.err = logErrs[i]
	}
	failed := map[int]bool{}
	if _, err := s.runs.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false)); err != nil {
		var bwe mongo.BulkWriteException
		if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
			return s.wrap("record runs", err)
		}
		for _, we := range bwe.WriteErrors {
			if !mongo.IsDuplicateKeyError(we) {
				return s.wrap("record runs", err)
			}
			failed[we.Index] = true
			ready[we.Index].err = fmt.Errorf("%w: run %s already exists", ErrDuplicate, ready[we.Index].run.ID)
		}
	}
	var logDocs []any
	for i, rec := range ready {
		if !failed[i] {
			logDocs = append(logDocs, s.logDocs(rec.run.ID, logs[i])...)
		}
	}
	if len(logDocs) == 0 {
		return nil
	}
	if _, err := s.logs.InsertMany(ctx, logDocs, options.InsertMany().SetOrdered(false)); err != nil {
		// the runs are in: report the lost log lines on each run, not a
		// failed batch (which would write the runs again)
		err = s.wrap("record log lines", err)
		for i, rec := range ready {
			if !failed[i] && len(logs[i]) > 0 && rec.err == nil {
				rec.err = err
			}
		}
	}
	return nil
}

// putOrchestrationsBatch writes the batch's orchestration records with one
// unordered bulk write (a round trip for all instead of one each); a
// record the server refuses gets its own error.
func (s *mongoStore) putOrchestrationsBatch(ctx context.Context, recs []*runRecord) error {
	var models []mongo.WriteModel
	var owners []*runRecord
	for _, rec := range recs {
		if rec.orchRun == "" {
			continue
		}
		o := s.san.orchestrations(rec.orch)
		b := appendOrchestrations(make([]byte, 0, orchestrationsSizeHint(o)), o)
		models = append(models, mongo.NewReplaceOneModel().SetFilter(bson.D{{Key: "_id", Value: rec.orchRun}}).
			SetReplacement(orchDoc{ID: rec.orchRun, Items: string(b)}).SetUpsert(true))
		owners = append(owners, rec)
	}
	if len(models) == 0 {
		return nil
	}
	_, err := s.orch().BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false))
	if err == nil {
		return nil
	}
	var bwe mongo.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil {
		return s.wrap("put orchestrations", err)
	}
	for _, we := range bwe.WriteErrors {
		if we.Index >= 0 && we.Index < len(owners) {
			owners[we.Index].err = s.wrap("put orchestrations of "+owners[we.Index].orchRun, we)
		}
	}
	return nil
}

func (s *mongoStore) AppendLogs(ctx context.Context, runID string, lines []LogLine) error {
	clean, err := s.san.logs(runID, lines)
	if err != nil || len(clean) == 0 {
		return err
	}
	_, err = s.logs.InsertMany(ctx, s.logDocs(runID, clean))
	return s.wrap("append logs to run "+runID, err)
}

// logDocs chunks a run's cleaned log lines into documents.
func (s *mongoStore) logDocs(runID string, clean []LogLine) []any {
	var docs []any
	var cur []logLineDoc
	size := 0
	flush := func() {
		if len(cur) > 0 {
			docs = append(docs, logDoc{ID: NewID(), Run: runID, Seq: nextLogSeq(), Lines: cur})
			cur, size = nil, 0
		}
	}
	for _, l := range clean {
		if size+len(l.Message) > logChunkBytes || len(cur) >= 1000 {
			flush()
		}
		cur = append(cur, logLineDoc(l))
		size += len(l.Message) + len(l.Step) + 64
	}
	flush()
	return docs
}

func (s *mongoStore) Logs(ctx context.Context, runID string) ([]LogLine, error) {
	cur, err := s.logs.Find(ctx, bson.D{{Key: "run", Value: runID}},
		options.Find().SetSort(bson.D{{Key: "seq", Value: 1}, {Key: "_id", Value: 1}}))
	if err != nil {
		return nil, s.wrap("logs of run "+runID, err)
	}
	var docs []logDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.wrap("logs of run "+runID, err)
	}
	out := []LogLine{}
	for _, d := range docs {
		for _, l := range d.Lines {
			out = append(out, LogLine{Time: ms(l.Time), Level: l.Level, Step: l.Step, Message: l.Message})
		}
	}
	return out, nil
}

// ---- cursors ----

func (s *mongoStore) GetCursor(ctx context.Context, key string) (*Cursor, error) {
	var d cursorDoc
	if err := s.cursors.FindOne(ctx, bson.D{{Key: "_id", Value: key}}).Decode(&d); err != nil {
		return nil, s.wrap("cursor "+key, err)
	}
	return &Cursor{Key: d.Key, Value: raw(d.Value), Version: d.Version, Updated: ms(d.Updated)}, nil
}

func (s *mongoStore) PutCursor(ctx context.Context, c *Cursor) error {
	if err := checkCursor(c); err != nil {
		return err
	}
	now := ms(s.now())
	next := cursorDoc{Key: c.Key, Value: string(c.Value), Version: c.Version + 1, Updated: now}
	conflict := func(at int64) error {
		return fmt.Errorf("%w: cursor %s is at version %d, caller had %d", ErrConflict, c.Key, at, c.Version)
	}
	if c.Version == 0 {
		if _, err := s.cursors.InsertOne(ctx, next); err != nil {
			if mongo.IsDuplicateKeyError(err) {
				cur, gerr := s.GetCursor(ctx, c.Key)
				if gerr != nil {
					return conflict(-1)
				}
				return conflict(cur.Version)
			}
			return s.wrap("put cursor "+c.Key, err)
		}
	} else {
		cur, err := s.GetCursor(ctx, c.Key)
		if errors.Is(err, ErrNotFound) {
			return conflict(0)
		}
		if err != nil {
			return err
		}
		if cur.Version != c.Version {
			return conflict(cur.Version)
		}
		if err := s.cas(ctx, s.cursors, "version", c.Key, c.Version, next); err != nil {
			if errors.Is(err, ErrConflict) {
				return conflict(c.Version + 1)
			}
			return err
		}
	}
	c.Version, c.Updated = next.Version, now
	return nil
}

// ---- messages ----

func (s *mongoStore) Enqueue(ctx context.Context, m *Message) error {
	if err := s.san.message(m, s.now()); err != nil {
		return err
	}
	_, err := s.msgs.InsertOne(ctx, toMsgDoc(m, 1))
	if err == nil {
		return nil
	}
	if !mongo.IsDuplicateKeyError(err) {
		return s.wrap("enqueue message "+m.ID, err)
	}
	// Which key clashed? Report the existing message's id either way.
	filter := bson.D{{Key: "_id", Value: m.ID}}
	if m.IdempotencyKey != "" {
		filter = bson.D{{Key: "$or", Value: bson.A{filter, bson.D{{Key: "idem", Value: m.IdempotencyKey}}}}}
	}
	var d msgDoc
	if ferr := s.msgs.FindOne(ctx, filter, options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})).Decode(&d); ferr == nil {
		m.ID = d.ID
	}
	return fmt.Errorf("%w: message %s (id or idempotency key already queued)", ErrDuplicate, m.ID)
}

func (s *mongoStore) loadMsg(ctx context.Context, id string) (*msgDoc, error) {
	var d msgDoc
	if err := s.msgs.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&d); err != nil {
		return nil, s.wrap("message "+id, err)
	}
	return &d, nil
}

func (s *mongoStore) GetMessage(ctx context.Context, id string) (*Message, error) {
	d, err := s.loadMsg(ctx, id)
	if err != nil {
		return nil, err
	}
	return d.message(), nil
}

func randUint32() uint32 {
	var b [4]byte
	rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// claimBatch candidates are fetched per round; racing claimers that lose
// one candidate move on to the next instead of querying again.
const claimBatch = 4

func (s *mongoStore) Claim(ctx context.Context, owner string, lease time.Duration, now time.Time, lanes ...string) (*Message, error) {
	if err := checkClaimArgs(owner, lease); err != nil {
		return nil, err
	}
	now = ms(now)
	filter := bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "status", Value: string(MsgPending)}, {Key: "due", Value: bson.D{{Key: "$lte", Value: now}}}},
		bson.D{{Key: "status", Value: string(MsgClaimed)}, {Key: "leaseUntil", Value: bson.D{{Key: "$lte", Value: now}}}},
	}}}
	if len(lanes) > 0 {
		filter = append(filter, bson.E{Key: "lane", Value: bson.D{{Key: "$in", Value: lanes}}})
	}
	opts := options.Find().SetSort(bson.D{{Key: "due", Value: 1}, {Key: "_id", Value: 1}}).SetLimit(claimBatch)
	for round := 0; round < 50; round++ {
		cur, err := s.msgs.Find(ctx, filter, opts)
		if err != nil {
			return nil, s.wrap("claim", err)
		}
		var docs []msgDoc
		if err := cur.All(ctx, &docs); err != nil {
			return nil, s.wrap("claim", err)
		}
		if len(docs) == 0 {
			return nil, ErrNoMessage
		}
		// The earliest-due candidate first (the contract's order); after
		// losing it, continue at a random one of the rest, so racing replicas
		// that fetched the same batch stop colliding on the same message.
		off := 0
		for i := range docs {
			if i == 1 {
				off = int(randUint32() % uint32(len(docs)-1)) //nolint:gosec // G115: a claim batch is small (the worker count)
			}
			d := docs[0]
			if i > 0 {
				d = docs[1+(i-1+off)%(len(docs)-1)]
			}
			m := d.message()
			m.Status, m.Owner, m.LeaseUntil, m.Updated = MsgClaimed, owner, now.Add(lease), now
			m.Attempts++
			err := s.cas(ctx, s.msgs, "rev", d.ID, d.Rev, toMsgDoc(m, d.Rev+1))
			if err == nil {
				return m, nil
			}
			if !errors.Is(err, ErrConflict) {
				return nil, err
			}
		}
	}
	return nil, fmt.Errorf("%w: claim lost 50 rounds of races", ErrConflict)
}

// mutate re-reads and retries on revision conflicts; fn re-checks its
// precondition on every fresh read (so a lost lease surfaces as ErrLeaseLost).
func (s *mongoStore) mutate(ctx context.Context, id string, fn func(m *Message) error) (*Message, error) {
	for try := 0; ; try++ {
		d, err := s.loadMsg(ctx, id)
		if err != nil {
			return nil, err
		}
		m := d.message()
		if err := fn(m); err != nil {
			return nil, err
		}
		err = s.cas(ctx, s.msgs, "rev", id, d.Rev, toMsgDoc(m, d.Rev+1))
		if err == nil {
			return m, nil
		}
		if !errors.Is(err, ErrConflict) || try >= 10 {
			return nil, err
		}
	}
}

func (s *mongoStore) ExtendLease(ctx context.Context, id, owner string, lease time.Duration, now time.Time) error {
	if err := checkClaimArgs(owner, lease); err != nil {
		return err
	}
	_, err := s.mutate(ctx, id, func(m *Message) error {
		if err := holds(m, owner); err != nil {
			return err
		}
		m.LeaseUntil, m.Updated = ms(now).Add(lease), ms(s.now())
		return nil
	})
	return err
}

func (s *mongoStore) Complete(ctx context.Context, id, owner string) error {
	_, err := s.mutate(ctx, id, func(m *Message) error {
		if err := holds(m, owner); err != nil {
			return err
		}
		m.Status, m.LeaseUntil, m.Updated = MsgDone, time.Time{}, ms(s.now())
		return nil
	})
	return err
}

func (s *mongoStore) Fail(ctx context.Context, id, owner, errMsg string, next time.Time) (*Message, error) {
	return s.mutate(ctx, id, func(m *Message) error {
		if err := holds(m, owner); err != nil {
			return err
		}
		applyFail(m, s.san.errText(errMsg), next, ms(s.now()))
		return nil
	})
}

func (s *mongoStore) DeadLetter(ctx context.Context, id, owner, reason string) error {
	_, err := s.mutate(ctx, id, func(m *Message) error {
		return applyDead(m, owner, s.san.errText(reason), ms(s.now()))
	})
	return err
}

func (s *mongoStore) ListDead(ctx context.Context, limit int) ([]*Message, error) {
	cur, err := s.msgs.Find(ctx, bson.D{{Key: "status", Value: string(MsgDead)}},
		options.Find().SetSort(bson.D{{Key: "updated", Value: -1}, {Key: "_id", Value: -1}}).SetLimit(int64(listLimit(limit))))
	if err != nil {
		return nil, s.wrap("list dead letters", err)
	}
	var docs []msgDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, s.wrap("list dead letters", err)
	}
	out := make([]*Message, len(docs))
	for i := range docs {
		out[i] = docs[i].message()
	}
	return out, nil
}

// CountQueue counts by status on the status_due index.
func (s *mongoStore) CountQueue(ctx context.Context) (QueueCounts, error) {
	var c QueueCounts
	pending, err := s.msgs.CountDocuments(ctx, bson.D{{Key: "status", Value: bson.D{{Key: "$in", Value: bson.A{string(MsgPending), string(MsgClaimed)}}}}})
	if err != nil {
		return c, s.wrap("count queued messages", err)
	}
	dead, err := s.msgs.CountDocuments(ctx, bson.D{{Key: "status", Value: string(MsgDead)}})
	if err != nil {
		return c, s.wrap("count dead letters", err)
	}
	c.Pending, c.Dead = int(pending), int(dead)
	return c, nil
}

func (s *mongoStore) Requeue(ctx context.Context, id string) error {
	_, err := s.mutate(ctx, id, func(m *Message) error { return applyRequeue(m, ms(s.now())) })
	return err
}

// ---- schedule leases ----

func (s *mongoStore) AcquireLease(ctx context.Context, name, owner string, ttl time.Duration, now time.Time) (bool, error) {
	if name == "" || owner == "" || ttl <= 0 {
		return false, invalid("lease needs a name, an owner and a positive ttl (got %q, %q, %s)", name, owner, ttl)
	}
	now = ms(now)
	var d leaseDoc
	err := s.leases.FindOne(ctx, bson.D{{Key: "_id", Value: name}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		_, err = s.leases.InsertOne(ctx, leaseDoc{Name: name, Rev: 1, Owner: owner, Until: now.Add(ttl)})
		if mongo.IsDuplicateKeyError(err) {
			return false, nil // another replica created it first
		}
		return err == nil, s.wrap("acquire lease "+name, err)
	}
	if err != nil {
		return false, s.wrap("acquire lease "+name, err)
	}
	if d.Owner != owner && ms(d.Until).After(now) {
		return false, nil
	}
	err = s.cas(ctx, s.leases, "rev", name, d.Rev, leaseDoc{Name: name, Rev: d.Rev + 1, Owner: owner, Until: now.Add(ttl)})
	if errors.Is(err, ErrConflict) {
		return false, nil
	}
	return err == nil, err
}

func (s *mongoStore) ReleaseLease(ctx context.Context, name, owner string) error {
	var d leaseDoc
	err := s.leases.FindOne(ctx, bson.D{{Key: "_id", Value: name}}).Decode(&d)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return nil
	}
	if err != nil {
		return s.wrap("release lease "+name, err)
	}
	if d.Owner != owner {
		return nil
	}
	// Expire rather than delete: the revision must keep counting up.
	err = s.cas(ctx, s.leases, "rev", name, d.Rev, leaseDoc{Name: name, Rev: d.Rev + 1})
	if errors.Is(err, ErrConflict) {
		return nil // someone else took it over meanwhile
	}
	return err
}

// ---- retention ----

func (s *mongoStore) Cull(ctx context.Context, olderThan time.Time, keepMax int) (int, error) {
	olderThan = ms(olderThan)
	deleted := 0
	deleteBatch := func(filter bson.D, sort bson.D, max int) error {
		for max != 0 {
			lim := int64(cullBatch)
			if max > 0 && max < cullBatch {
				lim = int64(max)
			}
			cur, err := s.runs.Find(ctx, filter, options.Find().SetSort(sort).SetLimit(lim).
				SetProjection(bson.D{{Key: "_id", Value: 1}}))
			if err != nil {
				return s.wrap("cull runs", err)
			}
			var ids []struct {
				ID string `bson:"_id"`
			}
			if err := cur.All(ctx, &ids); err != nil {
				return s.wrap("cull runs", err)
			}
			if len(ids) == 0 {
				return nil
			}
			in := make(bson.A, len(ids))
			for i, d := range ids {
				in[i] = d.ID
			}
			// Logs first: a crash in between leaves a run without logs, never logs without a run.
			if _, err := s.logs.DeleteMany(ctx, bson.D{{Key: "run", Value: bson.D{{Key: "$in", Value: in}}}}); err != nil {
				return s.wrap("cull logs", err)
			}
			res, err := s.runs.DeleteMany(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: in}}}})
			if err != nil {
				return s.wrap("cull runs", err)
			}
			deleted += int(res.DeletedCount)
			if max > 0 {
				max -= len(ids)
			}
			if len(ids) < int(lim) {
				return nil
			}
		}
		return nil
	}
	oldestFirst := bson.D{{Key: "started", Value: 1}, {Key: "_id", Value: 1}}
	if !olderThan.IsZero() {
		if err := deleteBatch(bson.D{{Key: "started", Value: bson.D{{Key: "$lt", Value: olderThan}}}}, oldestFirst, -1); err != nil {
			return deleted, err
		}
	}
	if keepMax > 0 {
		total, err := s.runs.CountDocuments(ctx, bson.D{})
		if err != nil {
			return deleted, s.wrap("count runs", err)
		}
		if excess := int(total) - keepMax; excess > 0 {
			if err := deleteBatch(bson.D{}, oldestFirst, excess); err != nil {
				return deleted, err
			}
		}
	}
	doneCutoff := doneMessageCutoff(olderThan, s.now())
	_, err := s.msgs.DeleteMany(ctx, bson.D{{Key: "status", Value: string(MsgDone)}, {Key: "updated", Value: bson.D{{Key: "$lt", Value: doneCutoff}}}})
	if err != nil {
		return deleted, s.wrap("cull done messages", err)
	}
	// Revision tokens only matter while a write is in flight.
	_, err = s.tokens.DeleteMany(ctx, bson.D{{Key: "at", Value: bson.D{{Key: "$lt", Value: time.Now().Add(-time.Hour)}}}})
	return deleted, s.wrap("cull revision tokens", err)
}

func (s *mongoStore) Ping(ctx context.Context) error {
	if err := s.db.RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Err(); err != nil {
		return fmt.Errorf("store: mongo %s unreachable: %s", s.safeURL, s.red.String(err.Error()))
	}
	return nil
}

func (s *mongoStore) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.wrap("disconnect", s.client.Disconnect(ctx))
}
