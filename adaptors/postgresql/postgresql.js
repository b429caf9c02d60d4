// language-postgresql for Job Mediator (design/openfn-jobs.md §5.6), written
// from the documented behaviour, not from OpenFn's sources. SQL is built
// and run in Go (package postgresql); this file keeps OpenFn's signatures,
// reference expansion, logging and where results land in state per major:
//   ≤3  {...state, response: {body: result}}
//   4   {...composeNextState(state, result.rows), response: result}
//   ≥5  {...composeNextState(state, result.rows), result: result}
// host.connect(configuration), host.disconnect(), host.query(text, values,
// execute), host.write(req), host.findValue(req), host.describeTable(name,
// execute), host.defineTable(name, columns, alter, execute) — see Host.
'use strict';

Object.keys(common).forEach(function (k) { exports[k] = common[k]; });

var V = version;
var composeNextState = common.composeNextState;

function isObject(v) { return v !== null && typeof v === 'object'; }
function expand(value, state) { return common.expandReferences(value)(state); }
function options(o, state) {
  var x = expand(o, state);
  return isObject(x) ? x : {};
}

// where an operation's result lands (§5.6)
function place(state, result) {
  if (V.major <= 3) return Object.assign({}, state, { response: { body: result } });
  var rows = isObject(result) ? result.rows : undefined;
  var next = composeNextState(state, rows);
  if (V.major === 4) return Object.assign({}, next, { response: result });
  return Object.assign({}, next, { result: result });
}

// 4.x–7.x accepted a trailing callback receiving the next state.
function finish(next, callback) {
  if (V.major >= 4 && V.major < 8 && typeof callback === 'function') return callback(next);
  return next;
}

function writeSql(state, texts, o) {
  if (!o.writeSql) return;
  console.log('Adding prepared SQL to state.queries array.');
  if (!Array.isArray(state.queries)) state.queries = [];
  texts.forEach(function (t) { state.queries.push(t); });
}

// execute: false skips the statement up to 4.x; from 5.0 OpenFn only logs it.
function shouldExecute(o) {
  if (o.execute === false) {
    console.log('Not executing query; options.execute === false');
    return V.major >= 5;
  }
  return true;
}

function logResult(result) {
  [].concat(result).forEach(function (r) {
    if (isObject(r)) console.log(r.command + ' succeeded, rowCount: ' + r.rowCount);
  });
}

function complete(state, answer, o, exec, callback) {
  writeSql(state, answer.sql, o);
  if (!exec) return finish(place(state, 'Query not executed.'), callback);
  logResult(answer.result);
  return finish(place(state, answer.result), callback);
}

exports.execute = function () {
  var ops = Array.prototype.slice.call(arguments);
  return function (state) {
    var initial = Object.assign({ references: [], data: null, queries: [] }, state);
    function connect(s) {
      host.connect((s && s.configuration) || {});
      return s;
    }
    return common.execute.apply(null, [connect].concat(ops))(initial).then(
      function (s) { host.disconnect(); return s; },
      function (e) { host.disconnect(); throw e; });
  };
};

// sql(query, options): query is a string, {text, values} or a function of
// state returning either; options.values binds $1… parameters.
exports.sql = function (sqlQuery, opts, callback) {
  return common.asyncOp(function (state) {
    var q = typeof sqlQuery === 'function' ? sqlQuery(state) : sqlQuery;
    q = expand(q, state);
    var o = options(opts, state);
    var text = q, values = o.values;
    if (isObject(q) && !Array.isArray(q)) {
      text = q.text;
      if (q.values !== undefined) values = q.values;
    }
    if (typeof text !== 'string') {
      throw new TypeError('sql: the query must be a string, {text, values} or a function returning one');
    }
    if (values !== undefined && values !== null && !Array.isArray(values)) {
      throw new TypeError('sql: values must be an array');
    }
    console.log('Preparing to execute sql statement');
    var exec = shouldExecute(o);
    var answer = host.query(text, values === undefined ? null : values, exec);
    return complete(state, answer, o, exec, callback);
  });
};

function logWrite(verb, answer, rows, o) {
  var text = answer.sql.join(';\n');
  if (o.logValues) console.log('Preparing to ' + verb + ' via:', text, JSON.stringify(rows));
  else console.log('Preparing to ' + verb + ' via:', text, '[--REDACTED--]');
}

function write(state, op, verb, table, conflict, columns, rows, o, callback) {
  var exec = shouldExecute(o);
  var answer = host.write({
    op: op, table: table, conflict: conflict === undefined ? null : conflict,
    columns: columns, rows: rows,
    setNull: o.setNull, hasSetNull: Object.prototype.hasOwnProperty.call(o, 'setNull'),
    logValues: !!o.logValues, execute: exec,
  });
  logWrite(verb, answer, rows, o);
  return complete(state, answer, o, exec, callback);
}

function record(data, op) {
  if (!isObject(data) || Array.isArray(data)) throw new TypeError(op + ': the record must be an object');
  return data;
}

function records(data, op) {
  if (!Array.isArray(data)) throw new TypeError(op + ': records must be an array of objects');
  data.forEach(function (r) { record(r, op); });
  return data;
}

exports.insert = function (table, rec, opts, callback) {
  return common.asyncOp(function (state) {
    var data = record(expand(rec, state), 'insert');
    var o = options(opts, state);
    var columns = Object.keys(data).sort();
    return write(state, 'insert', 'insert', expand(table, state), null, columns,
      [columns.map(function (c) { return data[c]; })], o, callback);
  });
};

// The first record's keys are the column template; other records are read
// by those names (missing keys are NULL).
function many(op, verb, table, conflict, recs, opts, callback, skipMsg) {
  return common.asyncOp(function (state) {
    var data = expand(recs, state);
    var o = options(opts, state);
    if (!data || data.length === 0) {
      console.log(skipMsg);
      return state;
    }
    data = records(data, op);
    var columns = Object.keys(data[0]);
    var rows = data.map(function (r) { return columns.map(function (c) { return r[c]; }); });
    return write(state, op, verb, expand(table, state), conflict === null ? null : expand(conflict, state), columns, rows, o, callback);
  });
}

exports.insertMany = function (table, recs, opts, callback) {
  return many('insertMany', 'insertMany', table, null, recs, opts, callback, 'No records provided; skipping insert.');
};

exports.upsert = function (table, uuid, rec, opts, callback) {
  return common.asyncOp(function (state) {
    var data = record(expand(rec, state), 'upsert');
    var o = options(opts, state);
    var columns = Object.keys(data).sort();
    return write(state, 'upsert', 'upsert', expand(table, state), expand(uuid, state), columns,
      [columns.map(function (c) { return data[c]; })], o, callback);
  });
};

exports.upsertIf = function (logical, table, uuid, rec, opts, callback) {
  return common.asyncOp(function (state) {
    var cond = expand(logical, state);
    if (!cond) {
      console.log('Skipping upsert for ' + expand(uuid, state) + '.');
      return state;
    }
    var data = record(expand(rec, state), 'upsertIf');
    var o = options(opts, state);
    var columns = Object.keys(data).sort();
    return write(state, 'upsertIf', 'upsert', expand(table, state), expand(uuid, state), columns,
      [columns.map(function (c) { return data[c]; })], o, callback);
  });
};

exports.upsertMany = function (table, uuid, recs, opts, callback) {
  return many('upsertMany', 'upsert', table, uuid, recs, opts, callback, 'No records provided; skipping upsert.');
};

// findValue({uuid, relation, where, operator}): the uuid column of the first
// matching row (null when none). ≥5 puts it in data; older majors resolve
// to the bare value (used as findValue(...)(state).then(v => …)).
exports.findValue = function (filter) {
  return common.asyncOp(function (state) {
    var f = expand(filter, state) || {};
    var where = isObject(f.where) ? f.where : {};
    console.log('Preparing to execute sql statement');
    var answer = host.findValue({
      uuid: f.uuid, relation: f.relation, keys: Object.keys(where), where: where,
      operator: isObject(f.operator) ? f.operator : {},
    });
    if (V.major >= 5) return composeNextState(state, answer.value);
    return Promise.resolve(answer.value);
  });
};

exports.describeTable = function (tableName, opts, callback) {
  return common.asyncOp(function (state) {
    var name = expand(tableName, state);
    var o = options(opts, state);
    var exec = shouldExecute(o);
    var answer = host.describeTable(String(name), exec);
    console.log('Preparing to describe table via:', answer.sql[0]);
    return complete(state, answer, o, exec, callback);
  });
};

function defineTable(alter, skipMsg) {
  return function (tableName, columns, opts, callback) {
    return common.asyncOp(function (state) {
      var name = expand(tableName, state);
      var cols = expand(columns, state);
      var o = options(opts, state);
      if (!cols || cols.length === 0) {
        console.log(skipMsg);
        return state;
      }
      if (!Array.isArray(cols)) throw new TypeError((alter ? 'modifyTable' : 'insertTable') + ': columns must be an array of {name, type}');
      var exec = shouldExecute(o);
      var answer = host.defineTable(String(name), cols, alter, exec);
      console.log('Preparing to ' + (alter ? 'modify' : 'create') + ' table via:', answer.sql[0]);
      return complete(state, answer, o, exec, callback);
    });
  };
}

exports.insertTable = defineTable(false, 'No columns provided; skipping table creation.');
exports.modifyTable = defineTable(true, 'No columns provided; skipping table modification.');
