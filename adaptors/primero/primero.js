// language-primero for Job Mediator (design/openfn-jobs.md §5.3), written
// from the documented behaviour of @openfn/language-primero, not from
// OpenFn's sources. Two API generations, chosen by version.major:
//   1.x   Primero v1 API (/api/login session cookie, /api/cases arrays,
//         getCases(query, callback)); see the "1.x" section below.
//   2.x–4.x Primero v2 API. Version gates (version.major/minor/patch):
//   2.10  getCases adds state.metadata
//   3.2   createCase/updateCase send {data: <whole params>} (= {data: {data}})
//         and createReferrals {data: params}: OpenFn's regression, kept.
//   4.0   drops language-common's http namespace (never implemented here);
//         operations as 3.2.
// host.request({method, url, headers, body, timeout}) → {status, statusText,
// headers, body, url, duration}; transport failures throw with a Node code.
'use strict';

function ge(major, minor, patch) {
  if (version.major !== major) return version.major > major;
  if (version.minor !== minor) return version.minor > minor;
  return version.patch >= (patch || 0);
}
var DOUBLE_WRAP = ge(3, 2);

// Only what the adaptor re-exports from language-common, per release (from
// the export lists of OpenFn/language-primero tags and
// OpenFn/adaptors:packages/primero/src/Adaptor.js); a job using anything
// else fails with a ReferenceError, as on OpenFn.
var reexported = ['alterState', 'dataPath', 'dataValue', 'each', 'field', 'fields', 'lastReferenceValue', 'merge', 'sourceValue'];
if (ge(2, 2)) reexported.push('combine');
if (ge(2, 2, 4)) reexported.push('fn');
if (ge(2, 3, 5)) reexported.push('beta');
if (ge(2, 4, 4)) reexported.push('dateFns');
if (ge(2, 12)) reexported.push('fnIf');
if (ge(3, 2)) reexported.push('as');
if (ge(4, 1)) reexported.push('log');
reexported.forEach(function (k) { exports[k] = common[k]; });

var SUCCESS = [200, 201, 202, 204];

function isObject(v) { return v !== null && typeof v === 'object'; }

function expand(state) {
  return common.util.expandReferences.apply(null, [state].concat(Array.prototype.slice.call(arguments, 1)));
}

// The adaptor's own composeNextState: appends the previous data to
// references (no initialisation: a state without references is a TypeError,
// as in OpenFn) and sets metadata when given.
function composeNextState(state, data, meta) {
  if (!state.references || typeof state.references[Symbol.iterator] !== 'function') {
    throw new TypeError('state.references is not iterable');
  }
  var next = Object.assign({}, state, { data: data, references: state.references.concat([state.data]) });
  if (meta) next.metadata = meta;
  return next;
}

function configError(message) {
  var e = new Error(message);
  e.code = 'INVALID_CONFIGURATION';
  return e;
}

function baseUrl(state) {
  var conf = state.configuration;
  if (!conf || !conf.url) throw configError('configuration.url is required by the primero adaptor (e.g. https://primero.example.org)');
  return String(conf.url).replace(/\/+$/, '');
}

// qs.stringify with its defaults (indices arrays, nested brackets, RFC 3986
// encoding of keys and values, empty objects/arrays and undefined omitted,
// null as "key=").
function qsEncode(s) {
  return encodeURIComponent(s).replace(/[!'()*]/g, function (c) { return '%' + c.charCodeAt(0).toString(16).toUpperCase(); });
}
function qsPairs(prefix, v, out) {
  if (v === undefined || typeof v === 'function') return;
  if (v === null) { out.push(qsEncode(prefix) + '='); return; }
  if (v instanceof Date) { out.push(qsEncode(prefix) + '=' + qsEncode(v.toISOString())); return; }
  if (Array.isArray(v)) {
    v.forEach(function (x, i) { qsPairs(prefix + '[' + i + ']', x, out); });
    return;
  }
  if (isObject(v)) {
    Object.keys(v).forEach(function (k) { qsPairs(prefix + '[' + k + ']', v[k], out); });
    return;
  }
  out.push(qsEncode(prefix) + '=' + qsEncode(String(v)));
}
function stringify(query) {
  var out = [];
  if (!isObject(query)) return '';
  Object.keys(query).forEach(function (k) { qsPairs(k, query[k], out); });
  return out.join('&');
}

function withQuery(url, query) {
  var q = stringify(query);
  return q ? url + '?' + q : url;
}

function tryJson(text) {
  if (text === undefined || text === '') return text;
  try { return JSON.parse(text); } catch (e) { return { body: text }; }
}

// The error OpenFn throws for a status outside SUCCESS: the whole response
// as JSON with the Authorization header replaced.
function responseError(method, url, headers, res) {
  var reqHeaders = Object.assign({}, headers);
  if (reqHeaders.Authorization !== undefined) reqHeaders.Authorization = '--REDACTED--';
  var described = {
    statusCode: res.status,
    body: tryJson(res.body),
    headers: res.headers,
    request: { uri: url, method: method, headers: reqHeaders }
  };
  var e = new Error('Server responded with:\n' + JSON.stringify(described, null, 2));
  e.statusCode = res.status;
  e.statusMessage = res.statusText;
  e.url = url;
  e.method = method;
  e.body = described.body;
  return e;
}

function send(state, method, url, body, extraHeaders) {
  var headers = { 'Content-Type': 'application/json' };
  if (state.auth && state.auth.token) headers.Authorization = state.auth.token;
  Object.assign(headers, extraHeaders || {});
  var payload = body === undefined ? undefined : JSON.stringify(body);
  console.log(JSON.stringify({ method: method, url: url, json: body !== undefined }, null, 2));
  var res = host.request({ method: method, url: url, headers: headers, body: payload });
  if (SUCCESS.indexOf(res.status) < 0) throw responseError(method, url, headers, res);
  console.log('Primero says: \'' + res.status + ' ' + res.statusText + '\'');
  return tryJson(res.body);
}

// ---- auth (execute wraps every job) ----------------------------------------

function generateAuthString(state) {
  var conf = state.configuration || {};
  var url = baseUrl(state);
  if (conf.basicAuth) {
    var auth = { token: 'Basic ' + common.util.encode(String(conf.user) + ':' + String(conf.password)) };
    return Object.assign({}, state, { auth: auth });
  }
  if (!conf.user || !conf.password) {
    throw configError('configuration.user and configuration.password are required to log in to Primero (or set basicAuth: true)');
  }
  var loginUrl = url + '/api/v2/tokens';
  var headers = { 'Content-Type': 'application/json' };
  var res = host.request({ method: 'POST', url: loginUrl, headers: headers,
    body: JSON.stringify({ user: { user_name: conf.user, password: conf.password } }) });
  if (SUCCESS.indexOf(res.status) < 0) {
    var e = responseError('POST', loginUrl, headers, res);
    var hint = res.status === 401 || res.status === 403 ? ': check configuration.user and configuration.password' : '';
    e.message = 'Primero login failed (POST /api/v2/tokens answered ' + res.status + ')' + hint + '\n' + e.message;
    throw e;
  }
  var body = tryJson(res.body) || {};
  if (!body.token) {
    var e2 = new Error('Primero login answered ' + res.status + ' without a token: is configuration.url a Primero v2 server?');
    e2.statusCode = res.status;
    throw e2;
  }
  return Object.assign({}, state, { auth: Object.assign({}, body, { token: 'Bearer ' + body.token }) });
}

function cleanupState(state) {
  if (isObject(state)) delete state.auth;
  return state;
}

exports.execute = function () {
  var ops = Array.prototype.slice.call(arguments);
  return function (state) {
    var initial = Object.assign({ references: [], data: null }, state);
    return common.execute.apply(null, [generateAuthString].concat(ops, [cleanupState]))(initial);
  };
};

function done(next, callback) { return callback ? callback(next) : next; }

// ---- cases ------------------------------------------------------------------

function fetchCases(state, query) {
  return send(state, 'GET', withQuery(baseUrl(state) + '/api/v2/cases', query));
}

exports.getCases = function (query, options, callback) {
  return common.asyncOp(function (state) {
    var args = expand(state, query, options);
    var q = args[0], opts = args[1] || {};
    var body = fetchCases(state, q) || {};
    var cases = body.data;
    if (opts.withReferrals && Array.isArray(cases)) {
      cases.forEach(function (c) {
        var refs = send(state, 'GET', baseUrl(state) + '/api/v2/cases/' + encodeURIComponent(c.id) + '/referrals') || {};
        c.referrals = refs.data;
      });
    }
    var next = composeNextState(state, cases, ge(2, 10) ? body.metadata : undefined);
    return done(next, callback);
  });
};

exports.getCase = function (id, options, callback) {
  if (typeof options === 'function' && callback === undefined) { callback = options; options = {}; }
  return common.asyncOp(function (state) {
    var args = expand(state, id, options);
    if (args[0] === undefined || args[0] === null || args[0] === '') throw new Error('getCase: a case id (record id) is required');
    var body = send(state, 'GET', baseUrl(state) + '/api/v2/cases/' + encodeURIComponent(args[0])) || {};
    var c = body.data;
    if (args[1] && args[1].withReferrals && c) {
      c.referrals = (send(state, 'GET', baseUrl(state) + '/api/v2/cases/' + encodeURIComponent(c.id) + '/referrals') || {}).data;
    }
    return done(composeNextState(state, c), callback);
  });
};

// OpenFn ≤3.1 sends {data: params.data}; ≥3.2 wraps the whole params.
function wrap(params) { return DOUBLE_WRAP ? { data: params } : { data: params && params.data }; }

function create(state, params) {
  var body = send(state, 'POST', baseUrl(state) + '/api/v2/cases', wrap(params)) || {};
  return body.data;
}
function update(state, id, params) {
  if (id === undefined || id === null || id === '') throw new Error('updateCase: a case id (record id) is required');
  var body = send(state, 'PATCH', baseUrl(state) + '/api/v2/cases/' + encodeURIComponent(id), wrap(params)) || {};
  return body.data;
}

exports.createCase = function (params, callback) {
  return common.asyncOp(function (state) {
    var p = expand(state, params)[0];
    return done(composeNextState(state, create(state, p)), callback);
  });
};

exports.updateCase = function (id, params, callback) {
  return common.asyncOp(function (state) {
    var args = expand(state, id, params);
    return done(composeNextState(state, update(state, args[0], args[1])), callback);
  });
};

exports.upsertCase = function (params, callback) {
  return common.asyncOp(function (state) {
    var p = expand(state, params)[0] || {};
    var data = p.data;
    var externalIds = p.externalIds;
    if (!isObject(data)) throw new Error('upsertCase: params.data must be the case object');
    if (!Array.isArray(externalIds) || externalIds.length === 0) {
      throw new Error('upsertCase: params.externalIds must list the field(s) that identify the case, e.g. [\'case_id\']');
    }
    var query = { remote: true };
    var used = 0;
    externalIds.forEach(function (k) {
      if (data[k] !== undefined && data[k] !== null && data[k] !== '') { query[k] = data[k]; used++; }
    });
    // Job Mediator guard (not in OpenFn): with no identifying value the
    // lookup would match every case and the first one would be overwritten.
    if (used === 0) {
      var e = new Error('upsertCase: the case has no value for ' + externalIds.join(', ') + ', so it cannot be matched; refusing to upsert it');
      e.code = 'MISSING_EXTERNAL_ID';
      throw e;
    }
    delete data.record_id;
    var found = (fetchCases(state, query) || {}).data || [];
    var payload = Object.assign({}, p, { data: data });
    delete payload.externalIds;
    var result;
    if (found.length > 0) {
      console.log('Case exists (' + found[0].id + '); updating it.');
      result = update(state, found[0].id, payload);
    } else {
      console.log('No case found for ' + JSON.stringify(query) + '; creating it.');
      result = create(state, payload);
    }
    return done(composeNextState(state, result), callback);
  });
};

// ---- referrals --------------------------------------------------------------

function caseByCaseId(state, caseId) {
  var found = (fetchCases(state, { case_id: caseId }) || {}).data || [];
  if (found.length === 0) {
    var e = new Error('No case found with case_id ' + JSON.stringify(caseId));
    e.code = 'CASE_NOT_FOUND';
    throw e;
  }
  if (found.length > 1) {
    var e2 = new Error('Multiple cases found with case_id ' + JSON.stringify(caseId) + ' (' + found.length + ')');
    e2.code = 'DUPLICATE_CASE_ID';
    throw e2;
  }
  return found[0];
}

exports.getReferrals = function (params, callback) {
  return common.asyncOp(function (state) {
    var p = expand(state, params)[0] || {};
    if (p.id === undefined || p.id === null || p.id === '') throw new Error('getReferrals: params.id is required');
    var recordId = p.externalId === 'record_id' ? p.id : caseByCaseId(state, p.id).id;
    var body = send(state, 'GET', baseUrl(state) + '/api/v2/cases/' + encodeURIComponent(recordId) + '/referrals') || {};
    return done(composeNextState(state, body.data), callback);
  });
};

exports.createReferrals = function (params, callback) {
  return common.asyncOp(function (state) {
    var p = expand(state, params)[0] || {};
    var body = send(state, 'POST', baseUrl(state) + '/api/v2/cases/referrals', DOUBLE_WRAP ? { data: p } : { data: p.data });
    // OpenFn reads tryJson(body).data.body from an already-parsed body, which
    // is a TypeError after the referrals were created (§5.3). Kept, because
    // a job written for OpenFn cannot rely on anything else.
    var parsed = isObject(body) ? { body: body } : tryJson(body);
    return done(composeNextState(state, parsed.data.body), callback);
  });
};

function updateReferralOp(params, callback) {
  return common.asyncOp(function (state) {
    var p = expand(state, params)[0] || {};
    if (p.id === undefined || p.id === null || p.id === '') throw new Error('updateReferral: params.id (the referral id) is required');
    if (p.caseId === undefined || p.caseId === null || p.caseId === '') throw new Error('updateReferral: params.caseId is required');
    var recordId = p.caseExternalId === 'record_id' ? p.caseId : caseByCaseId(state, p.caseId).id;
    var body = send(state, 'PATCH', baseUrl(state) + '/api/v2/cases/' + encodeURIComponent(recordId) + '/referrals/' + encodeURIComponent(p.id),
      { data: p.data });
    // tryJson of the parsed body gives {body: json}; .data is undefined so
    // OpenFn falls back to the wrapper (§5.3).
    var parsed = isObject(body) ? { body: body } : tryJson(body);
    return done(composeNextState(state, (parsed && parsed.data) || parsed), callback);
  });
}
exports.updateReferral = updateReferralOp;
exports.updateReferrals = function (params, callback) {
  console.warn('DEPRECATION WARNING: updateReferrals is deprecated; use updateReferral.');
  return updateReferralOp(params, callback);
};

// ---- metadata ---------------------------------------------------------------

function listOp(path) {
  return function (query, callback) {
    return common.asyncOp(function (state) {
      var q = expand(state, query)[0];
      var body = send(state, 'GET', withQuery(baseUrl(state) + path, q)) || {};
      return done(composeNextState(state, body.data), callback);
    });
  };
}
exports.getForms = listOp('/api/v2/forms');
exports.getLookups = listOp('/api/v2/lookups');
exports.getLocations = listOp('/api/v2/locations');

// ---- http namespace (3.1+) ------------------------------------------------------
// packages/primero/src/http.js + Utils.js request: language-common's request
// against baseUrl {url}/api/v2/, Basic auth from `username ?? user` (not
// the login token, which always logs in as user), Content-type
// application/json, the body wrapped as {data: body} (a GET sends
// {"data":{}}), parseAs json by default;
// state: {...composeNextState(state, body), response}.
// Status ≥400 throws "<METHOD> to <url> returned <code>: <reason>".
function httpRequest(state, method, path, options) {
  var conf = state.configuration || {};
  var o = options || {};
  var base = String(conf.url).replace(/\/+$/, '') + '/api/v2/';
  var url;
  if (/^https?:\/\//.test(path)) {
    if (path.replace(/^(https?:\/\/[^/?#]+).*$/, '$1').toLowerCase() !== base.replace(/^(https?:\/\/[^/?#]+).*$/, '$1').toLowerCase()) {
      var em = new Error('Target origin does not match baseUrl origin');
      em.code = 'BASE_URL_MISMATCH';
      throw em;
    }
    url = path;
  } else {
    url = base + String(path === undefined ? '' : path).replace(/^\/+/, '');
  }
  var q = o.query || {};
  var qs = Object.keys(q).map(function (k) { return encodeURIComponent(k) + '=' + encodeURIComponent(q[k]); }).join('&');
  if (qs) url += (url.indexOf('?') >= 0 ? '&' : '?') + qs;
  var headers = Object.assign({ 'Content-type': 'application/json',
    Authorization: 'Basic ' + common.util.encode(String(conf.username != null ? conf.username : conf.user) + ':' + String(conf.password)) },
    o.headers || {});
  var res = host.request({ method: method, url: url, headers: headers, body: JSON.stringify({ data: o.body === undefined ? {} : o.body }) });
  var errs = o.errors || {};
  var mapped = errs[res.status];
  var isErr = errs === false ? false : (typeof mapped === 'boolean' ? mapped : (mapped || res.status >= 400));
  if (isErr) {
    var e = new Error(typeof mapped === 'string' ? mapped : method + ' to ' + url + ' returned ' + res.status + ': ' + res.statusText);
    e.statusCode = res.status; e.statusMessage = res.statusText; e.url = url; e.method = method;
    e.body = tryJson(res.body); e.headers = res.headers; e.duration = res.duration;
    throw e;
  }
  var body;
  var parseAs = o.parseAs || 'json';
  if (res.body !== '' && res.status !== 204 && res.headers['content-type']) {
    body = parseAs === 'text' ? res.body : (parseAs === 'base64' ? common.util.encode(res.body) : JSON.parse(res.body));
  }
  console.log(method + ' ' + url + ' - ' + res.status + ' in ' + res.duration + 'ms');
  var response = { url: url, method: method, statusCode: res.status, statusMessage: res.statusText, headers: res.headers, duration: res.duration };
  if (qs) response.query = q;
  return Object.assign(composeNextState(state, body), { response: response });
}

if (ge(3, 1)) {
  exports.http = {
    get: function (path, options) {
      return common.asyncOp(function (state) {
        var a = expand(state, path, options || {});
        return httpRequest(state, 'GET', a[0], a[1]);
      });
    },
    post: function (path, data, options) {
      return common.asyncOp(function (state) {
        var a = expand(state, path, options || {}, data);
        return httpRequest(state, 'POST', a[0], Object.assign({}, a[1], { body: a[2] }));
      });
    },
    patch: function (path, data, options) {
      return common.asyncOp(function (state) {
        var a = expand(state, path, options || {}, data);
        return httpRequest(state, 'PATCH', a[0], Object.assign({}, a[1], { body: a[2] }));
      });
    }
  };
}

// ---- 1.x: the Primero v1 API -------------------------------------------------
// From OpenFn/language-primero v1.0.0–v1.2.0 (src/Adaptor.js, src/Utils.js),
// which used the `request` library with a cookie jar against Primero 1.x
// (/api/login, then /api/cases with the session cookie):
//   - execute: {references: [], data: null, ...state}, login first,
//     cleanupState (delete state.auth) last.
//   - login: POST {url}/api/login {user_name, password}; state.auth is the
//     reply through tryJson, which wraps an already-parsed body: {body: reply}.
//   - getCases(query, callback): GET {url}/api/cases?<qs(query)>; the query
//     is not expanded (functions in it are dropped by qs); data = the array.
//     A second argument is the callback: a 2.x-style options object there
//     is "callback is not a function", as in 1.x.
//   - createCase({data}, cb): POST {url}/api/cases with data as the body
//     (Primero 1.x wants {child: {...}}); data = the created record.
//   - updateCase(id, {data}, cb): PATCH {url}/api/cases/{id} (id is not
//     expanded); data = {body: <updated record>} (the tryJson quirk again).
//   - upsertCase({externalIds, data}, cb): GET /api/cases?remote=true&
//     scope[or][<id>]=or_op||<data[id]>; none → createCase, one →
//     updateCase(found._id) adding only the services_section entries whose
//     unique_id is new (1.1.0+), more → rejects with a string.
//   - Success statuses 200, 201, 202; otherwise
//     Error("Server responded with:  \n<response JSON>").
//   - post(path, params): language-http 2.3.0's post (1.x depends on
//     github:openfn/language-http#v2.3.0), see post1 below.
// Not implemented: from 1.2.0, the language-common http namespace.
if (version.major === 1) {
  ['getCase', 'getReferrals', 'createReferrals', 'updateReferral', 'updateReferrals', 'getForms', 'getLookups', 'getLocations']
    .forEach(function (k) { delete exports[k]; });

  var SUCCESS1 = [200, 201, 202];
  var COOKIE = '__primeroSession';

  var v1Url = function (state) { return String((state.configuration || {}).url); };

  // tryJson as Utils.js has it: JSON.parse of anything, {body: x} on failure
  // (an object given to JSON.parse is "[object Object]", so it fails too).
  var tryJson1 = function (x) {
    try { return JSON.parse(x); } catch (e) { return { body: x }; }
  };

  var send1 = function (state, method, url, json) {
    var headers = {};
    var auth = state.auth;
    if (auth && auth[COOKIE]) headers.Cookie = auth[COOKIE];
    var payload;
    if (json !== undefined) { headers['Content-Type'] = 'application/json'; payload = JSON.stringify(json); }
    var res = host.request({ method: method, url: url, headers: headers, body: payload });
    if (SUCCESS1.indexOf(res.status) < 0) {
      var e = responseError(method, url, headers, res);
      e.message = e.message.replace(/^Server responded with:\n/, 'Server responded with:  \n');
      throw e;
    }
    // `json: …` requests get a parsed body back from `request`, others text
    var body = res.body;
    if (json !== undefined) { try { body = JSON.parse(res.body); } catch (err) { /* text stays */ } }
    return { res: res, body: body };
  };

  // name=value pairs of a response's Set-Cookie headers, as a jar hands
  // them back for the same URL.
  var cookieString = function (res) {
    return String(res.headers['set-cookie'] || '').split(/,(?=\s*[^;=]+=)/).map(function (c) {
      return c.split(';')[0].trim();
    }).filter(Boolean).join('; ');
  };

  var login1 = function (state) {
    var conf = state.configuration || {};
    var r = send1(state, 'POST', v1Url(state) + '/api/login', { user_name: conf.user, password: conf.password });
    var auth = tryJson1(r.body);
    var cookie = cookieString(r.res);
    // the jar is not part of state: invisible to jobs and to JSON
    Object.defineProperty(auth, COOKIE, { value: cookie, enumerable: false });
    return Object.assign({}, state, { auth: auth });
  };

  var compose1 = function (state, data) {
    return Object.assign({}, state, { data: data, references: state.references.concat([state.data]) });
  };

  var resolved = function (next, callback) { return callback ? callback(next) : next; };

  exports.execute = function () {
    var ops = Array.prototype.slice.call(arguments);
    return function (state) {
      var initial = Object.assign({ references: [], data: null }, state);
      return common.execute.apply(null, [login1].concat(ops, [cleanupState]))(initial);
    };
  };

  exports.getCases = function (query, callback) {
    return common.asyncOp(function (state) {
      var r = send1(state, 'GET', withQuery(v1Url(state) + '/api/cases', query));
      console.log("Primero says: '" + r.res.status + ' ' + r.res.statusText + "'");
      var resp = tryJson1(r.body);
      console.log((resp && resp.length) + ' cases retrieved from request: ' + JSON.stringify({ uri: r.res.url, method: 'GET' }, null, 2) + '.');
      return resolved(compose1(state, resp), callback);
    });
  };

  var createCase1 = function (params, callback) {
    return common.asyncOp(function (state) {
      var data = expand(state, params)[0].data;
      var r = send1(state, 'POST', v1Url(state) + '/api/cases', data);
      console.log('Post succeeded: ' + r.res.status + ' ' + r.res.statusText);
      return resolved(compose1(state, tryJson1(r.body).body), callback);
    });
  };
  var updateCase1 = function (id, params, callback) {
    return common.asyncOp(function (state) {
      var data = expand(state, params)[0].data;
      var r = send1(state, 'PATCH', v1Url(state) + '/api/cases/' + id, data);
      return resolved(compose1(state, tryJson1(r.body)), callback);
    });
  };
  exports.createCase = createCase1;
  exports.updateCase = updateCase1;

  // post1 is language-http 2.3.0's post (src/Adaptor.js, Client.js,
  // Utils.js at that tag) as language-primero 1.x re-exports it:
  //   - the url is configuration.baseUrl + path when baseUrl is set, else
  //     path as given (not expanded); params are expanded; a third
  //     argument (callback) is ignored, as primero's wrapper drops it.
  //   - `request` options: qs from query (qs.stringify), json: body (an
  //     object body is sent as JSON with Content-Type and Accept
  //     application/json, and the reply parsed), headers, auth from
  //     params.authentication or else configuration.username/password
  //     (Basic; `user`/`pass` spellings and bearer too), a FRESH cookie jar
  //     per call: Primero's session cookie from the login is not sent, so
  //     a v1 /api route needs the job's own Cookie header.
  //   - success is 200/201/202 or options.successCodes; otherwise
  //     Error("Server responded with:  \n<response JSON>") as for the
  //     other 1.x operations; transport errors reject as they come.
  //   - data is tryJson(reply): JSON.parse of the (already parsed) reply,
  //     so an object reply becomes {body: reply} and a text reply that is
  //     not JSON {body: text}; keepCookie adds __cookie (the reply's
  //     cookies); references gain the previous data.
  //   - rest.timeout (ms) is honoured; other `request` options in params
  //     (strictSSL, encoding, …) are ignored. Refused by name: formData
  //     (multipart) and digest auth (configuration.authType 'digest' or
  //     sendImmediately: false), which `request` negotiates on a 401.
  //   - Logs "✓ POST succeeded." and the status, not `request`'s dump of
  //     its params and the whole response (credentials, session cookies).
  var unsupported1 = function (what) {
    var e = new Error(what + ' is not supported by post() in language-primero 1.x on Job Mediator');
    e.code = 'UNSUPPORTED';
    return e;
  };
  var post1 = function (path, params) {
    return common.asyncOp(function (state) {
      var conf = state.configuration || {};
      var url = conf.baseUrl ? conf.baseUrl + path : path;
      var p = Object.assign({}, expand(state, params)[0] || {});
      var query = p.query, headers = Object.assign({}, p.headers || {}), authentication = p.authentication,
        body = p.body, formData = p.formData, options = p.options;
      ['query', 'headers', 'authentication', 'body', 'formData', 'options'].forEach(function (k) { delete p[k]; });
      if (formData !== undefined) throw unsupported1('formData (multipart)');
      var auth = authentication || (conf.username ? { username: conf.username, password: conf.password, sendImmediately: conf.authType != 'digest' } : null);
      if (auth) {
        if (auth.sendImmediately === false) throw unsupported1('Digest or challenge authentication (sendImmediately: false, authType digest)');
        var u = auth.user !== undefined ? auth.user : auth.username;
        var pw = auth.pass !== undefined ? auth.pass : auth.password;
        if (auth.bearer !== undefined) headers.Authorization = 'Bearer ' + (typeof auth.bearer === 'function' ? auth.bearer() : auth.bearer);
        else if (u !== undefined || pw !== undefined) headers.Authorization = 'Basic ' + common.util.encode(String(u === undefined ? '' : u) + ':' + String(pw === undefined ? '' : pw));
      }
      var has = function (name) {
        return Object.keys(headers).some(function (k) { return k.toLowerCase() === name; });
      };
      var json = !!body, payload;
      if (json) {
        if (!has('accept')) headers.accept = 'application/json';
        if (body !== true) {
          payload = JSON.stringify(body);
          if (!has('content-type')) headers['content-type'] = 'application/json';
        }
      }
      var q = stringify(query);
      if (q) url = String(url) + (String(url).indexOf('?') >= 0 ? '&' : '?') + q;
      var r = { method: 'POST', url: String(url), headers: headers, body: payload };
      if (typeof p.timeout === 'number') r.timeout = p.timeout;
      var res = host.request(r);
      var ok = (options && options.successCodes) || SUCCESS1;
      if (ok.indexOf(res.status) < 0) {
        var e = responseError('POST', r.url, headers, res);
        e.message = e.message.replace(/^Server responded with:\n/, 'Server responded with:  \n');
        throw e;
      }
      var reply = res.body;
      if (json) { try { reply = JSON.parse(res.body); } catch (err) { /* text stays */ } }
      console.log('✓ POST succeeded.');
      console.log('Server responded with: ' + res.status + ' ' + res.statusText);
      var resp = tryJson1(reply);
      if (p.keepCookie) resp = Object.assign({ __cookie: cookieString(res) }, resp);
      return compose1(state, resp);
    });
  };
  exports.post = function (path, params) { return post1(path, params); };

  exports.upsertCase = function (params, callback) {
    return common.asyncOp(function (state) {
      var p = expand(state, params)[0];
      var data = p.data, externalIds = p.externalIds;
      var qs = { remote: true, scope: { or: {} } };
      externalIds.map(function (x) { return (qs.scope.or[x] = 'or_op||' + data[x]); });
      var url = v1Url(state) + '/api/cases';
      console.log('Upserting: ' + JSON.stringify({ method: 'GET', url: url, jar: true, qs: qs }, null, 2));
      var resp = tryJson1(send1(state, 'GET', withQuery(url, qs)).body);
      if (resp.length == 0) {
        console.log('No case found. Performing create.');
        return createCase1({ data: function () { return data; } }, callback)(state);
      }
      if (resp.length == 1) {
        console.log('Case found. Performing update.');
        var found = resp[0];
        return updateCase1(found._id, {
          data: function () {
            var child = data.child;
            var oldServices = found.services_section;
            if (oldServices && oldServices.length > 0) {
              var serviceIds = oldServices.map(function (s) { return s.unique_id; });
              var newServices = child.services_section.filter(function (os) { return serviceIds.indexOf(os.unique_id) < 0; });
              return Object.assign({}, data, { child: Object.assign({}, child, { services_section: oldServices.concat(newServices) }) });
            }
            return data;
          }
        }, callback)(state);
      }
      throw 'Multiple cases found. Try using another externalId and ensure that it is unique.';
    });
  };
}
