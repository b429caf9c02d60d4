package postgresql

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/jobmediator/jobmediator/adaptors/recorder"
)

// ConnectTimeout bounds opening a connection (the step deadline still
// applies on top).
const ConnectTimeout = 15 * time.Second

// Config is the credential (state.configuration) of a postgresql job.
type Config struct {
	Host                string
	Port                int
	Database            string
	User                string
	Password            string
	SSL                 bool
	AllowSelfSignedCert bool
	CA, Cert, Key       string
}

// ParseConfig reads a configuration object as OpenFn's postgresql adaptor
// does (host, port, database, user, password, ssl, allowSelfSignedCert, ca,
// cert, key). Errors name the field and never include the password.
func ParseConfig(m map[string]any) (Config, error) {
	var c Config
	str := func(k string) string {
		switch v := m[k].(type) {
		case string:
			return strings.TrimSpace(v)
		case nil:
			return ""
		default:
			return fmt.Sprint(v)
		}
	}
	c.Host, c.Database, c.User = str("host"), str("database"), str("user")
	if pw, ok := m["password"].(string); ok {
		c.Password = pw
	}
	var missing []string
	for _, f := range []struct{ k, v string }{{"host", c.Host}, {"database", c.Database}, {"user", c.User}} {
		if f.v == "" {
			missing = append(missing, f.k)
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("postgresql configuration is missing %s (want host, port, database, user, password)", strings.Join(missing, ", "))
	}
	if strings.ContainsAny(c.Host, "/?#@ ") && !strings.HasPrefix(c.Host, "/") {
		// not echoed: a URL here may carry a password
		return c, fmt.Errorf("postgresql configuration host must be a host name or address, not a URL (put user, password, port and database in their own fields)")
	}
	c.Port = 5432
	switch p := m["port"].(type) {
	case nil:
	case int64:
		c.Port = int(p)
	case float64:
		c.Port = int(p)
	case string:
		if strings.TrimSpace(p) != "" {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil {
				return c, fmt.Errorf("postgresql configuration port %q is not a number", p)
			}
			c.Port = n
		}
	default:
		return c, fmt.Errorf("postgresql configuration port must be a number, got %T", p)
	}
	if c.Port <= 0 || c.Port > 65535 {
		return c, fmt.Errorf("postgresql configuration port %d is out of range", c.Port)
	}
	truthy := func(k string) bool {
		switch v := m[k].(type) {
		case bool:
			return v
		case string:
			return v == "true" || v == "1"
		case int64:
			return v != 0
		case float64:
			return v != 0
		}
		return false
	}
	c.SSL, c.AllowSelfSignedCert = truthy("ssl"), truthy("allowSelfSignedCert")
	c.CA, c.Cert, c.Key = str("ca"), str("cert"), str("key")
	return c, nil
}

// Target is where exchanges say statements went: no password, ever.
func (c Config) Target() string {
	host := c.Host
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "postgresql://" + c.User + "@" + host + ":" + strconv.Itoa(c.Port) + "/" + c.Database
}

func (c Config) tlsConfig() (*tls.Config, error) {
	if !c.SSL {
		return nil, nil
	}
	// node-postgres: ssl → {rejectUnauthorized: !allowSelfSignedCert, ca, cert, key}
	t := &tls.Config{ServerName: c.Host, InsecureSkipVerify: c.AllowSelfSignedCert, MinVersion: tls.VersionTLS12} //nolint:gosec // G402: only when the credential sets allowSelfSignedCert, language-postgresql's opt-in
	if c.CA != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(c.CA)) {
			return nil, fmt.Errorf("postgresql configuration ca is not a PEM certificate")
		}
		t.RootCAs = pool
	}
	if c.Cert != "" || c.Key != "" {
		pair, err := tls.X509KeyPair([]byte(c.Cert), []byte(c.Key))
		if err != nil {
			return nil, fmt.Errorf("postgresql configuration cert/key: not a PEM certificate and key pair")
		}
		t.Certificates = []tls.Certificate{pair}
	}
	return t, nil
}

// DBError is a failure talking to PostgreSQL, shaped for the JS error the
// job sees: Code is the SQLSTATE or a Node-style network code, StatusCode
// an HTTP-like class the mediator understands (5xx transient, 4xx not).
type DBError struct {
	Message    string
	Code       string
	StatusCode int
	Constraint string
	Table      string
	Column     string
	Severity   string
}

func (e *DBError) Error() string { return e.Message }

// Transient reports whether retrying could succeed.
func (e *DBError) Transient() bool {
	switch e.Code {
	case "ECONNREFUSED", "ETIMEDOUT", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "EPIPE":
		return true
	}
	return e.StatusCode >= 500
}

// Props are the extra properties of the thrown JS error.
func (e *DBError) Props() map[string]any {
	p := map[string]any{"code": e.Code}
	if e.StatusCode != 0 {
		p["statusCode"] = e.StatusCode
	}
	if e.Constraint != "" {
		p["constraint"] = e.Constraint
	}
	if e.Table != "" {
		p["table"] = e.Table
	}
	if e.Column != "" {
		p["column"] = e.Column
	}
	if e.Severity != "" {
		p["severity"] = e.Severity
	}
	if e.isSQLState() {
		p["sqlState"] = e.Code
	}
	return p
}

// isSQLState tells a server-reported SQLSTATE (5 characters, no standard
// class starts with E) from our Node-style network codes.
func (e *DBError) isSQLState() bool { return len(e.Code) == 5 && !strings.HasPrefix(e.Code, "E") }

// sqlStateStatus maps an SQLSTATE to an HTTP-like status: connection,
// resource and serialisation problems are transient (503), integrity
// violations are conflicts (409), authentication 401, permission 403, the
// rest are caller errors (400).
func sqlStateStatus(code string) int {
	switch {
	case code == "40001" || code == "40P01" || code == "55P03" || code == "57014":
		return 503
	case strings.HasPrefix(code, "08"), strings.HasPrefix(code, "53"), strings.HasPrefix(code, "57P"), strings.HasPrefix(code, "58"), code == "XX000":
		return 503
	case strings.HasPrefix(code, "23"):
		return 409
	case strings.HasPrefix(code, "28"):
		return 401
	case code == "42501":
		return 403
	}
	return 400
}

// classifyConnect turns a connection failure into a DBError. The message
// names the target without the password.
func classifyConnect(err error, c Config) *DBError {
	where := fmt.Sprintf("%s:%d (database %s, user %s)", c.Host, c.Port, c.Database, c.User)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return &DBError{
			Message:    fmt.Sprintf("could not connect to PostgreSQL at %s: %s (SQLSTATE %s)", where, pgErr.Message, pgErr.Code),
			Code:       pgErr.Code,
			StatusCode: sqlStateStatus(pgErr.Code),
			Severity:   pgErr.Severity,
		}
	}
	code, reason := "ECONNRESET", "the connection failed"
	var dnsErr *net.DNSError
	var tlsErr *tls.CertificateVerificationError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		code, reason = "ECONNREFUSED", "connection refused"
	case errors.As(err, &dnsErr):
		code, reason = "ENOTFOUND", "host not found"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded):
		code, reason = "ETIMEDOUT", "connection timed out"
	case errors.Is(err, context.Canceled):
		code, reason = "ECANCELED", "the run was cancelled"
	case errors.As(err, &tlsErr):
		code, reason = "ECERTVERIFY", "the server certificate was not trusted (set allowSelfSignedCert or ca)"
	case strings.Contains(err.Error(), "server refused TLS connection"):
		code, reason = "ESSLREFUSED", "the server does not accept SSL (set ssl: false)"
	case strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:"):
		code, reason = "ESSL", "the TLS handshake failed"
	case errors.Is(err, syscall.ECONNRESET):
		code, reason = "ECONNRESET", "connection reset"
	}
	return &DBError{Message: fmt.Sprintf("could not connect to PostgreSQL at %s: %s (%s)", where, reason, code), Code: code}
}

// classifyExec turns a statement failure into a DBError whose message
// gives the statement kind and SQLSTATE but never parameter values: the
// server's detail ("Key (id)=(42) already exists") is deliberately dropped.
func classifyExec(err error, kind string) *DBError {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		msg := fmt.Sprintf("%s failed: %s (SQLSTATE %s)", kind, pgErr.Message, pgErr.Code)
		if pgErr.Code == "23505" && pgErr.ConstraintName != "" && !strings.Contains(pgErr.Message, pgErr.ConstraintName) {
			msg = fmt.Sprintf("%s failed: duplicate key violates unique constraint %q (SQLSTATE 23505)", kind, pgErr.ConstraintName)
		}
		return &DBError{
			Message: msg, Code: pgErr.Code, StatusCode: sqlStateStatus(pgErr.Code),
			Constraint: pgErr.ConstraintName, Table: pgErr.TableName, Column: pgErr.ColumnName, Severity: pgErr.Severity,
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &DBError{Message: kind + " failed: the statement timed out (ETIMEDOUT)", Code: "ETIMEDOUT"}
	}
	if errors.Is(err, context.Canceled) {
		return &DBError{Message: kind + " failed: the run was cancelled (ECANCELED)", Code: "ECANCELED"}
	}
	if pgconn.SafeToRetry(err) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, net.ErrClosed) {
		return &DBError{Message: kind + " failed: the connection to PostgreSQL was lost (ECONNRESET)", Code: "ECONNRESET"}
	}
	return &DBError{Message: kind + " failed: " + err.Error(), Code: "EPGCLIENT", StatusCode: 400}
}

// session is one open connection of a step. Its mutex serialises the job's
// statements with the safety-net close at the step deadline.
type session struct {
	mu     sync.Mutex
	conn   *pgconn.PgConn
	cfg    Config
	stop   func() bool
	closed bool
}

// open connects; ctx bounds the connection attempt and, through
// context.AfterFunc, closes the connection when the step ends however it
// ends (a killed VM never reaches the JS disconnect).
func open(ctx context.Context, c Config) (*session, error) {
	pc, err := pgconn.ParseConfig("")
	if err != nil {
		// Only reachable through a broken PG* environment variable.
		return nil, &DBError{Message: "postgresql: reading libpq environment defaults: " + err.Error(), Code: "EPGCONFIG"}
	}
	tc, err := c.tlsConfig()
	if err != nil {
		return nil, &DBError{Message: err.Error(), Code: "EPGCONFIG", StatusCode: 400}
	}
	pc.Host, pc.Port, pc.Database, pc.User, pc.Password = c.Host, uint16(c.Port), c.Database, c.User, c.Password //nolint:gosec // G115: the port was checked to be 1..65535 when the configuration was read
	pc.TLSConfig, pc.Fallbacks = tc, nil
	pc.ValidateConnect, pc.AfterConnect = nil, nil
	pc.ConnectTimeout = ConnectTimeout
	pc.RuntimeParams = map[string]string{"application_name": "jobmediator"}
	cctx, cancel := context.WithTimeout(ctx, ConnectTimeout)
	defer cancel()
	conn, err := pgconn.ConnectConfig(cctx, pc)
	if err != nil {
		return nil, classifyConnect(err, c)
	}
	s := &session{conn: conn, cfg: c}
	s.stop = context.AfterFunc(ctx, s.close)
	return s, nil
}

func (s *session) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = s.conn.Close(ctx)
}

// Disconnect closes the connection (idempotent).
func (s *session) Disconnect() {
	if s.stop != nil {
		s.stop()
	}
	s.close()
}

// Field describes a result column as node-postgres does.
type Field struct {
	Name             string
	TableID          uint32
	ColumnID         uint16
	DataTypeID       uint32
	DataTypeSize     int16
	DataTypeModifier int32
}

// Result is one statement's outcome, values already decoded to what
// node-postgres would hand a job (see decodeValue).
type Result struct {
	Command  string
	RowCount *int64
	OID      *int64
	Fields   []Field
	Rows     [][]any
	// Kinds marks columns the JS side post-processes: "date" (make a Date
	// from the ISO string) or "json" (JSON.parse the text).
	Kinds []string
}

var typeMap = pgtype.NewMap()

func makeResult(r *pgconn.Result) *Result {
	out := &Result{}
	tag := r.CommandTag.String()
	words := strings.Fields(tag)
	if len(words) > 0 {
		out.Command = words[0]
	}
	if n := len(words); n > 1 {
		if v, err := strconv.ParseInt(words[n-1], 10, 64); err == nil {
			out.RowCount = &v
		}
		if words[0] == "INSERT" && n == 3 {
			if o, err := strconv.ParseInt(words[1], 10, 64); err == nil {
				out.OID = &o
			}
		}
	}
	out.Fields = make([]Field, len(r.FieldDescriptions))
	out.Kinds = make([]string, len(r.FieldDescriptions))
	for i, f := range r.FieldDescriptions {
		out.Fields[i] = Field{Name: f.Name, TableID: f.TableOID, ColumnID: f.TableAttributeNumber, DataTypeID: f.DataTypeOID, DataTypeSize: f.DataTypeSize, DataTypeModifier: f.TypeModifier}
		out.Kinds[i] = kindOf(f.DataTypeOID)
	}
	out.Rows = make([][]any, len(r.Rows))
	for i, row := range r.Rows {
		vals := make([]any, len(row))
		for j, raw := range row {
			vals[j] = decodeValue(r.FieldDescriptions[j].DataTypeOID, raw)
		}
		out.Rows[i] = vals
	}
	return out
}

func kindOf(oid uint32) string {
	switch oid {
	case pgtype.DateOID, pgtype.TimestampOID, pgtype.TimestamptzOID:
		return "date"
	case pgtype.JSONOID, pgtype.JSONBOID:
		return "json"
	}
	return ""
}

// decodeValue converts one text-format value the way node-postgres's
// default type parsers do: int2/int4/oid and floats become numbers, bool a
// boolean, int8 and numeric stay strings (they may not fit a JS number),
// date/timestamp(tz) become Dates (sent as ISO strings, see Kinds), json
// is parsed, arrays of those become arrays, anything else is its text.
func decodeValue(oid uint32, raw []byte) any {
	if raw == nil {
		return nil
	}
	s := string(raw)
	switch oid {
	case pgtype.BoolOID:
		return s == "t"
	case pgtype.Int2OID, pgtype.Int4OID, pgtype.OIDOID:
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return n
		}
	case pgtype.Float4OID, pgtype.Float8OID:
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
		switch s {
		case "NaN", "Infinity", "-Infinity":
			f, _ := strconv.ParseFloat(strings.ToLower(s), 64)
			return f
		}
	case pgtype.DateOID:
		if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
			return t.UTC().Format("2006-01-02T15:04:05.000Z")
		}
	case pgtype.TimestampOID:
		if t, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", s, time.Local); err == nil {
			return t.UTC().Format("2006-01-02T15:04:05.000Z")
		}
	case pgtype.TimestamptzOID:
		for _, layout := range []string{"2006-01-02 15:04:05.999999999Z07", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999Z07:00:00"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t.UTC().Format("2006-01-02T15:04:05.000Z")
			}
		}
	case pgtype.Int2ArrayOID, pgtype.Int4ArrayOID, pgtype.Int8ArrayOID, pgtype.TextArrayOID, pgtype.VarcharArrayOID,
		pgtype.BoolArrayOID, pgtype.Float4ArrayOID, pgtype.Float8ArrayOID, pgtype.NumericArrayOID, pgtype.UUIDArrayOID,
		pgtype.BPCharArrayOID, pgtype.JSONBArrayOID, pgtype.JSONArrayOID:
		if t, ok := typeMap.TypeForOID(oid); ok {
			if v, err := t.Codec.DecodeValue(typeMap, oid, pgtype.TextFormatCode, raw); err == nil {
				return arrayValue(v)
			}
		}
	}
	return s
}

// arrayValue maps decoded array elements to node-postgres's JS values.
func arrayValue(v any) any {
	switch t := v.(type) {
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = arrayValue(e)
		}
		return out
	case int16:
		return int64(t)
	case int32:
		return int64(t)
	case int64:
		return strconv.FormatInt(t, 10) // int8[] elements are strings in node-postgres
	case float32:
		return float64(t)
	case pgtype.Numeric:
		b, err := t.MarshalJSON()
		if err != nil {
			return nil
		}
		return strings.Trim(string(b), `"`)
	case [16]byte:
		return fmt.Sprintf("%x-%x-%x-%x-%x", t[0:4], t[4:6], t[6:8], t[8:10], t[10:16])
	case map[string]any:
		return t
	}
	return v
}

// textParams renders parameters for the extended protocol: all in text
// format with type OID 0, so the server infers each type from its context,
// exactly as it does for node-postgres (and for pg-format's quoted
// literals in OpenFn's builders).
func textParams(params []any) ([][]byte, []uint32) {
	vals := make([][]byte, len(params))
	oids := make([]uint32, len(params))
	for i, p := range params {
		if p == nil {
			continue
		}
		vals[i] = []byte(literalText(p))
	}
	return vals, oids
}

// exec runs one statement. With no parameters the simple protocol is used,
// so a job's sql('a; b') may hold several statements as in node-postgres.
func (s *session) exec(ctx context.Context, st Statement) ([]*Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, &DBError{Message: "the PostgreSQL connection is closed", Code: "ECONNRESET"}
	}
	if len(st.Params) == 0 {
		rs, err := s.conn.Exec(ctx, st.SQL).ReadAll()
		if err != nil {
			return nil, err
		}
		out := make([]*Result, len(rs))
		for i, r := range rs {
			out[i] = makeResult(r)
		}
		return out, nil
	}
	if len(st.Params) > maxParams {
		return nil, &DBError{Message: fmt.Sprintf("%d parameters exceed PostgreSQL's limit of %d per statement", len(st.Params), maxParams), Code: "EPGCLIENT", StatusCode: 400}
	}
	vals, oids := textParams(st.Params)
	r := s.conn.ExecParams(ctx, st.SQL, vals, oids, nil, nil).Read()
	if r.Err != nil {
		return nil, r.Err
	}
	return []*Result{makeResult(r)}, nil
}

// statementKind is the first keyword of a statement (SELECT, INSERT, …),
// used in error messages and exchange names.
func statementKind(sql string) string {
	s := strings.TrimSpace(sql)
	for strings.HasPrefix(s, "--") || strings.HasPrefix(s, "/*") {
		if strings.HasPrefix(s, "--") {
			i := strings.IndexByte(s, '\n')
			if i < 0 {
				return "SQL"
			}
			s = strings.TrimSpace(s[i+1:])
		} else {
			i := strings.Index(s, "*/")
			if i < 0 {
				return "SQL"
			}
			s = strings.TrimSpace(s[i+2:])
		}
	}
	s = strings.TrimLeft(s, "(")
	end := strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
	})
	if end < 0 {
		end = len(s)
	}
	if k := strings.ToUpper(s[:end]); sqlKinds[k] {
		return k
	}
	return "SQL"
}

// sqlKinds are the statement keywords named in errors and exchanges; any
// other first word (a typo such as SELEC) is reported as "SQL".
var sqlKinds = map[string]bool{
	"SELECT": true, "INSERT": true, "UPDATE": true, "DELETE": true, "MERGE": true, "WITH": true, "VALUES": true,
	"CREATE": true, "ALTER": true, "DROP": true, "TRUNCATE": true, "COPY": true, "BEGIN": true, "COMMIT": true,
	"ROLLBACK": true, "GRANT": true, "REVOKE": true, "CALL": true, "DO": true, "SET": true, "SHOW": true,
	"EXPLAIN": true, "ANALYZE": true, "VACUUM": true, "REFRESH": true, "COMMENT": true, "LOCK": true, "TABLE": true,
}

// record adds one statement to the run's exchanges: Method "SQL", URL the
// target without password, Body the statement text (with $n placeholders,
// never the values unless logValues asked for them), response a summary.
func record(rec *recorder.Recorder, step, op string, cfg Config, sql string, values []any, started time.Time, results []*Result, err *DBError) {
	if rec == nil {
		return
	}
	name := "postgresql " + op
	if step != "" {
		name = step + ": " + name
	}
	body := sql
	if values != nil {
		body += "\n-- values: " + literalText(values)
	}
	ex := recorder.Exchange{Name: name, Step: step, Request: recorder.ExchangeRequest{
		Method: "SQL", URL: cfg.Target(), Header: http.Header{"Content-Type": {"application/sql"}}, Body: body, Time: started.UTC(),
	}}
	now := time.Now().UTC()
	switch {
	case err != nil && !err.isSQLState():
		ex.Error = err.Message // no answer from the server
	case err != nil:
		ex.Response = &recorder.ExchangeResponse{Status: err.StatusCode, Header: http.Header{"Content-Type": {"text/plain"}}, Body: err.Message, Time: now}
	default:
		var parts []string
		for _, r := range results {
			n := "null"
			if r.RowCount != nil {
				n = strconv.FormatInt(*r.RowCount, 10)
			}
			parts = append(parts, fmt.Sprintf(`{"command":%q,"rowCount":%s}`, r.Command, n))
		}
		ex.Response = &recorder.ExchangeResponse{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: "[" + strings.Join(parts, ",") + "]", Time: now}
	}
	rec.Add(ex)
}
