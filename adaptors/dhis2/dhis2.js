// language-dhis2 for Job Mediator (design/openfn-jobs.md §5.4), two
// generations chosen by version.major:
//   ≥7: @openfn/language-dhis2 7.x/8.x signatures (common HTTP engine, §4.4)
//   ≤6: axios-era signatures with options {params, apiVersion} and callbacks,
//       plus the pre-monorepo helpers (dataValueSet, createTEI, upsertTEI, …)
// host.request({method, url, headers, body, timeout}) → {status, statusText,
// headers, body, url, duration}; host.importSummary(text, record) → JSON of the
// normalised import summary or ''; host.describeImport(json) → one line;
// host.webMessage(text) → message of a WebMessage error; host.sleep(ms).
'use strict';

var conversions = exports.conversions;
Object.keys(common).forEach(function (k) { exports[k] = common[k]; });
exports.conversions = conversions;
var expandRefs = common.util.expandReferences;
var composeNextState = common.composeNextState;

var MODERN = version.major >= 7;
var trackerTypes = /^(enrollments|relationships|events|trackedEntities)$/;

function isObject(v) { return v !== null && typeof v === 'object'; }
function formEnc(s) { return encodeURIComponent(s).replace(/%20/g, '+'); }

// URLSearchParams-style query: arrays repeat the key (filter=a&filter=b).
function queryPairs(query) {
  var pairs = [];
  Object.keys(query || {}).forEach(function (k) {
    var v = query[k];
    if (v === undefined || v === null) return;
    [].concat(v).forEach(function (x) {
      if (isObject(x)) x = JSON.stringify(x);
      pairs.push(formEnc(k) + '=' + formEnc(String(x)));
    });
  });
  return pairs;
}

function splitUrl(u) {
  var m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*)?([^?#]*)(\?[^#]*)?(#.*)?$/i.exec(String(u));
  return { origin: m[1] || '', path: m[2] || '', query: m[3] ? m[3].slice(1) : '' };
}
function isAbsolute(u) { return /^[a-z][a-z0-9+.-]*:\/\//i.test(String(u)); }

function configError(message) {
  var e = new Error(message);
  e.code = 'INVALID_CONFIGURATION';
  return e;
}

function hostUrlOf(conf) {
  if (!conf) throw configError('state.configuration is missing: the dhis2 adaptor needs hostUrl and username/password or pat');
  var h = conf.hostUrl || conf.apiUrl;
  if (!h) throw configError('configuration.hostUrl is required (e.g. https://play.dhis2.org/40)');
  return String(h);
}

function authHeader(conf) {
  if (conf.pat) return 'ApiToken ' + conf.pat;
  if (conf.username && conf.password) return 'Basic ' + common.util.encode(conf.username + ':' + conf.password);
  throw configError('Invalid authorization credentials. Include a PAT or a username and password in state.configuration');
}

// '/api[/<apiVersion>]/<resourceType>[/<path>]' (util.prefixVersionToPath).
function versionPath(conf, options, resourceType, path) {
  var v = (options && options.apiVersion) || conf.apiVersion;
  console.log(v ? 'Using DHIS2 api version ' + v : 'Using latest available version of the DHIS2 api on this server.');
  var p = '/api' + (v ? '/' + v : '') + '/' + String(resourceType).replace(/^\/+/, '');
  return path !== undefined && path !== null && path !== '' ? p + '/' + path : p;
}

function fullUrl(conf, path) {
  var base = hostUrlOf(conf);
  if (isAbsolute(path)) {
    if (splitUrl(path).origin.toLowerCase() !== splitUrl(base).origin.toLowerCase()) {
      var e = new Error('BASE_URL_MISMATCH: ' + path + ' is not on configuration.hostUrl ' + splitUrl(base).origin);
      e.code = 'BASE_URL_MISMATCH';
      throw e;
    }
    return path;
  }
  var b = splitUrl(base), p = splitUrl(path);
  return b.origin + b.path.replace(/\/+$/, '') + '/' + p.path.replace(/^\/+/, '') + (p.query ? '?' + p.query : '');
}

function withQuery(url, query) {
  var pairs = queryPairs(query);
  if (!pairs.length) return url;
  return url + (url.indexOf('?') >= 0 ? '&' : '?') + pairs.join('&');
}

function parse(text, headers, parseAs) {
  if (parseAs === 'text') return text;
  if (text === '' || text === undefined) return undefined;
  var ct = String(headers['content-type'] || '');
  if (parseAs === 'json' || ct.indexOf('json') >= 0) {
    try { return JSON.parse(text.replace(/^\uFEFF/, '')); } catch (e) { return text; }
  }
  return text;
}

function summaryOf(text, record) {
  var s = host.importSummary(text || '', !!record);
  return s ? JSON.parse(s) : null;
}

// The error for an HTTP failure: OpenFn's message, then what DHIS2 said —
// the import counts and every conflicting object, or the WebMessage text.
function httpError(method, url, res, body) {
  var base = MODERN
    ? method + ' to ' + url + ' returned ' + res.status + ': ' + res.statusText
    : 'Request failed with status code ' + res.status;
  var parts = [base];
  var summary = summaryOf(res.body, true);
  if (summary) parts.push(host.describeImport(JSON.stringify(summary)));
  else {
    var wm = host.webMessage(res.body || '');
    if (wm) parts.push(wm);
  }
  if (res.status === 401) parts.push('DHIS2 rejected the credentials: check configuration.username/password or configuration.pat');
  var err = new Error(parts.join(' — '));
  err.statusCode = res.status;
  err.statusMessage = res.statusText;
  err.method = method;
  err.url = url;
  err.duration = res.duration;
  err.headers = res.headers;
  err.body = body;
  if (summary) {
    err.importSummary = summary;
    err.conflicts = summary.conflicts;
  }
  return err;
}

// One request with common's request semantics (§4.4): status ≥ 400 throws.
function request(conf, method, path, opts) {
  opts = opts || {};
  var url = withQuery(fullUrl(conf, path), opts.query);
  var headers = { 'content-type': 'application/json', accept: 'application/json' };
  Object.keys(opts.headers || {}).forEach(function (k) { headers[k.toLowerCase()] = opts.headers[k]; });
  headers.authorization = authHeader(conf);
  var body = opts.body;
  if (body !== undefined && body !== null && typeof body !== 'string') body = JSON.stringify(body);
  if (method === 'GET' || method === 'HEAD') body = undefined;
  var res = host.request({ method: method, url: url, headers: headers, body: body === null ? undefined : body, timeout: opts.timeout });
  var parsed = parse(res.body, res.headers, opts.parseAs);
  console.log(method + ' ' + url + ' - ' + res.status + ' in ' + res.duration + 'ms');
  if (res.status >= 400) throw httpError(method, url, res, parsed);
  if (method !== 'GET' || opts.recordImport) {
    var s = summaryOf(res.body, true);
    if (s && (s.status === 'WARNING' || s.status === 'ERROR')) console.warn(host.describeImport(JSON.stringify(s)));
  }
  return { url: url, method: method, statusCode: res.status, statusMessage: res.statusText, headers: res.headers, body: parsed, duration: res.duration };
}

function handleResponse(state, r) { return composeNextState(state, r.body); }
function handleHttpResponse(state, r) {
  var response = Object.assign({}, r);
  delete response.body;
  return Object.assign(composeNextState(state, r.body), { response: response });
}
function ensureArray(data, key) { var o = {}; o[key] = Array.isArray(data) ? data : [data]; return o; }

function callNewTracker(type, conf, options, resourceType, data) {
  var strategy = { create: 'CREATE', update: 'UPDATE', 'delete': 'DELETE' }[type] || 'CREATE_AND_UPDATE';
  options = options || {};
  var query = Object.assign({}, options.query || {}, { async: false, importStrategy: strategy });
  return request(conf, 'POST', versionPath(conf, options, 'tracker'), {
    query: query, headers: options.headers, parseAs: options.parseAs, body: ensureArray(data === undefined || data === null ? {} : data, resourceType)
  });
}

// Follows pager.nextPage (metadata, 2.41+ tracker) or, for the 2.36–2.40
// tracker envelope {page, pageSize, instances}, asks for the next page while
// pages come back full. maxPages bounds the loop; exceeding it throws rather
// than silently truncating.
function fetchAll(conf, path, params, options) {
  options = options || {};
  var maxPages = options.maxPages || 100;
  var query = Object.assign({}, params || {});
  var first = request(conf, 'GET', path, { query: query, parseAs: 'json' });
  var body = first.body;
  if (!isObject(body) || Array.isArray(body)) return first;
  var key = Object.keys(body).filter(function (k) { return k !== 'pager' && Array.isArray(body[k]); })[0];
  if (!key) return first;
  var items = body[key].slice();
  var pages = 1, cur = body;
  for (;;) {
    var next = null;
    if (cur.pager && cur.pager.nextPage) next = { url: cur.pager.nextPage };
    else if (!cur.pager && cur.page !== undefined && cur.pageSize && cur[key].length >= cur.pageSize) {
      next = { query: Object.assign({}, query, { page: cur.page + 1, pageSize: cur.pageSize }) };
    }
    if (!next) break;
    if (pages >= maxPages) {
      var e = new Error('getAll ' + path + ': more than ' + maxPages + ' pages; raise options.maxPages or narrow the query');
      e.code = 'TOO_MANY_PAGES';
      throw e;
    }
    var r = next.url ? request(conf, 'GET', next.url, { parseAs: 'json' }) : request(conf, 'GET', path, { query: next.query, parseAs: 'json' });
    cur = r.body;
    if (!isObject(cur) || !Array.isArray(cur[key])) break;
    if (!cur[key].length) break;
    items = items.concat(cur[key]);
    pages++;
  }
  var out = {};
  out[key] = items;
  out.pager = { page: 1, pageCount: pages, total: items.length, pageSize: items.length };
  return Object.assign({}, first, { body: out });
}

function migrate(state) {
  var conf = state.configuration;
  if (conf && !conf.hostUrl) {
    console.warn('DEPRECATION WARNING: Please migrate instance address from `apiUrl` to `hostUrl`.');
    conf.hostUrl = conf.apiUrl;
  }
  return state;
}

// ---------------------------------------------------------------- ≥ 7 -----

function create7(path, data, params) {
  return common.asyncOp(function (state) {
    if (path === 'tracker') throw new Error('Invalid resourceType. Use `tracker.import()` instead.');
    var a = expandRefs(state, path, data, params || {});
    var conf = state.configuration, r;
    if (trackerTypes.test(a[0])) r = callNewTracker('create', conf, { query: a[2] }, a[0], a[1]);
    else r = request(conf, 'POST', versionPath(conf, {}, a[0]), { query: a[2], body: a[1] });
    console.log('Created ' + a[0]);
    if (r.headers && r.headers.location) console.log('Record available @ ' + r.headers.location);
    return handleResponse(state, r);
  });
}

function get7(path, params) {
  return common.asyncOp(function (state) {
    var a = expandRefs(state, path, params || {});
    var r = request(state.configuration, 'GET', versionPath(state.configuration, {}, a[0]), { query: a[1] });
    console.log('Retrieved ' + a[0]);
    return handleResponse(state, r);
  });
}

function update7(resourceType, path, data, options) {
  return common.asyncOp(function (state) {
    console.log('Preparing update operation...');
    var a = expandRefs(state, resourceType, path, data, options || {});
    var conf = state.configuration, o = a[3], r;
    if (trackerTypes.test(a[0])) r = callNewTracker('update', conf, o, a[0], a[2]);
    else r = request(conf, 'PUT', versionPath(conf, o, a[0], a[1]), { query: o.query, headers: o.headers, parseAs: o.parseAs, body: a[2] });
    console.log('Updated ' + a[0] + ' at ' + a[1]);
    return handleResponse(state, r);
  });
}

function selectId(resourceType) { return resourceType === 'trackedEntityInstances' ? 'trackedEntityInstance' : 'id'; }

function upsertBody(conf, rt, query, data, o, getPath, writePath) {
  console.log("Preparing upsert via 'get' then 'create' OR 'update'...");
  var found = request(conf, 'GET', getPath, { query: Object.assign({}, o.query || {}, query || {}), headers: o.headers });
  var list = isObject(found.body) ? found.body[rt] : undefined;
  if (!Array.isArray(list)) {
    throw new Error('Upsert failed: the lookup of ' + rt + ' returned no "' + rt + '" list');
  }
  if (list.length > 1) {
    var e = new Error('Upsert failed: Multiple records found for a non-unique attribute (' + list.length + ' ' + rt + ' match). Ensure the attribute is unique or modify the request to target a single record.');
    e.code = 409; e.statusCode = 409; e.error = 'Conflict';
    throw e;
  }
  if (!list.length) {
    console.log('Preparing create operation...');
    return request(conf, 'POST', getPath, { query: o.query, headers: o.headers, body: data });
  }
  console.log('Preparing update operation...');
  return request(conf, 'PUT', writePath(list[0][selectId(rt)]), { query: o.query, headers: o.headers, body: data });
}

function upsert7(resourceType, query, data, options) {
  return common.asyncOp(function (state) {
    var a = expandRefs(state, resourceType, options || {}, data, query);
    var rt = a[0], o = a[1], conf = state.configuration, r;
    if (trackerTypes.test(rt)) r = callNewTracker('create_and_update', conf, o, rt, a[2]);
    else r = upsertBody(conf, rt, a[3], a[2], o, versionPath(conf, o, rt), function (id) { return versionPath(conf, o, rt, id); });
    console.log('Performed a "composed upsert" on ' + rt);
    return handleResponse(state, r);
  });
}

function destroy7(resourceType, path, data, options) {
  return common.asyncOp(function (state) {
    console.log('Preparing destroy operation...');
    var a = expandRefs(state, resourceType, path, data === undefined ? null : data, options || {});
    var conf = state.configuration, o = a[3], r;
    if (trackerTypes.test(a[0])) r = callNewTracker('delete', conf, o, a[0], a[2]);
    else r = request(conf, 'DELETE', versionPath(conf, o, a[0], a[1]), { query: o.query, headers: o.headers, body: a[2] });
    console.log('Deleted ' + a[0] + ' at ' + a[1]);
    return handleResponse(state, r);
  });
}

// getAll(path, params, {maxPages}) — Job Mediator extension: get() that
// follows the pager and returns {<collection>: [every item], pager}.
function getAll(path, params, options) {
  return common.asyncOp(function (state) {
    var a = expandRefs(state, path, params || {}, options || {});
    var conf = state.configuration;
    var r = fetchAll(conf, versionPath(conf, a[2], a[0]), a[1], a[2]);
    console.log('Retrieved all ' + a[0]);
    return handleResponse(state, r);
  });
}

function pollTrackerJob(conf, options, id, o) {
  var interval = Math.max(Number(o.pollInterval) || 1000, 1);
  var timeout = Number(o.pollTimeout) || 60000;
  var start = host.now();
  var jobPath = versionPath(conf, options, 'tracker/jobs/' + id);
  for (var polls = 1; ; polls++) {
    var n = request(conf, 'GET', jobPath, { parseAs: 'json' });
    var done = Array.isArray(n.body) && n.body.some(function (x) { return x && x.completed; });
    if (done) {
      console.log('Tracker job ' + id + ' completed after ' + polls + ' poll(s)');
      return request(conf, 'GET', jobPath + '/report', { query: { reportMode: o.reportMode || 'ERRORS' }, parseAs: 'json', recordImport: true });
    }
    if (host.now() - start >= timeout) {
      var e = new Error('tracker import job ' + id + ' did not complete within ' + timeout + 'ms (' + polls + ' polls); its outcome is unknown: re-run the import idempotently (CREATE_AND_UPDATE) or check ' + jobPath);
      e.code = 'ETIMEDOUT';
      e.jobId = id;
      throw e;
    }
    host.sleep(interval);
  }
}

var tracker = {
  // import(strategy, payload, {async=false, apiVersion, parseAs, pollInterval,
  // pollTimeout, ...query}) → POST /api/tracker; with async the job is polled
  // to completion and data is its ImportReport.
  'import': function (strategy, payload, options) {
    return common.asyncOp(function (state) {
      console.log('Preparing tracker import operation...');
      var a = expandRefs(state, strategy, payload, options || {});
      var conf = state.configuration, o = Object.assign({}, a[2]);
      var async = !!o.async, ext = { apiVersion: o.apiVersion };
      var q = {};
      Object.keys(o).forEach(function (k) {
        if (['apiVersion', 'parseAs', 'async', 'pollInterval', 'pollTimeout'].indexOf(k) < 0) q[k] = o[k];
      });
      q.async = async;
      if (a[0]) q.importStrategy = a[0];
      var r = request(conf, 'POST', versionPath(conf, ext, 'tracker'), { query: q, parseAs: o.parseAs, body: a[1] });
      if (async && isObject(r.body) && isObject(r.body.response) && r.body.response.id) {
        r = pollTrackerJob(conf, ext, r.body.response.id, o);
        var s = summaryOf(JSON.stringify(r.body), false);
        if (s && s.status === 'ERROR') {
          var e = new Error('tracker import job failed — ' + host.describeImport(JSON.stringify(s)));
          e.importSummary = s; e.conflicts = s.conflicts; e.body = r.body; e.code = 'DHIS2_IMPORT_ERROR';
          throw e;
        }
      }
      return handleHttpResponse(state, r);
    });
  },
  'export': function (path, query, options) {
    return common.asyncOp(function (state) {
      console.log('Preparing tracker export operation...');
      var a = expandRefs(state, path, query || {}, options || {});
      var o = a[2];
      var r = request(state.configuration, 'GET', versionPath(state.configuration, o, 'tracker/' + a[0]), { query: Object.assign({}, o.query || {}, a[1]), headers: o.headers, parseAs: o.parseAs });
      return handleHttpResponse(state, r);
    });
  }
};

var http = {
  get: function (path, options) {
    return common.asyncOp(function (state) {
      var a = expandRefs(state, path, options || {});
      return handleHttpResponse(state, request(state.configuration, 'GET', versionPath(state.configuration, a[1], a[0]), a[1]));
    });
  },
  post: function (path, data, options) {
    return common.asyncOp(function (state) {
      var a = expandRefs(state, path, options || {}, data);
      return handleHttpResponse(state, request(state.configuration, 'POST', versionPath(state.configuration, a[1], a[0]), Object.assign({}, a[1], { body: a[2] })));
    });
  },
  patch: function (resourceType, path, data, options) {
    return common.asyncOp(function (state) {
      var a = expandRefs(state, resourceType, path, data, options || {});
      return handleHttpResponse(state, request(state.configuration, 'PATCH', versionPath(state.configuration, a[3], a[0], a[1]), Object.assign({}, a[3], { body: a[2] })));
    });
  },
  request: function (method, path, options) {
    return common.asyncOp(function (state) {
      var a = expandRefs(state, method, path, options || {});
      var o = a[2] || {};
      return handleHttpResponse(state, request(state.configuration, String(a[0]).toUpperCase(), versionPath(state.configuration, o, a[1]), Object.assign({}, o, { body: o.data })));
    });
  }
};

// ---------------------------------------------------------------- ≤ 6 -----

function legacyPath(conf, options, resourceType, path) {
  return versionPath(conf, options || {}, resourceType, path);
}
function nestArray(data, key) { if (Array.isArray(data)) { var o = {}; o[key] = data; return o; } return data; }
function finish(state, r, callback) {
  var next = composeNextState(state, r.body);
  return callback ? callback(next) : next;
}
function useNewTracker6(rt) { return version.major === 6 && trackerTypes.test(rt); }

function create6(resourceType, data, options, callback) {
  return common.asyncOp(function (state) {
    console.log('Preparing create operation...');
    var a = expandRefs(state, resourceType, data, options || {});
    var conf = state.configuration, o = a[2], r;
    if (useNewTracker6(a[0])) r = callNewTracker('create', conf, { query: o.params, apiVersion: o.apiVersion }, a[0], a[1]);
    else r = request(conf, 'POST', legacyPath(conf, o, a[0]), { query: o.params, body: nestArray(a[1], a[0]) });
    console.log('Created ' + a[0]);
    return finish(state, r, callback);
  });
}
function get6(resourceType, query, options, callback) {
  return common.asyncOp(function (state) {
    console.log('Preparing get operation...');
    var a = expandRefs(state, resourceType, query || {}, options || {});
    var r = request(state.configuration, 'GET', legacyPath(state.configuration, a[2], a[0]), { query: Object.assign({}, a[1], a[2].params || {}) });
    console.log('Retrieved ' + a[0]);
    return finish(state, r, callback);
  });
}
function update6(resourceType, path, data, options, callback) {
  return common.asyncOp(function (state) {
    var a = expandRefs(state, resourceType, path, data, options || {});
    var conf = state.configuration, o = a[3], r;
    if (useNewTracker6(a[0])) r = callNewTracker('update', conf, { query: o.params, apiVersion: o.apiVersion }, a[0], a[2]);
    else r = request(conf, 'PUT', legacyPath(conf, o, a[0], a[1]), { query: o.params, body: a[2] });
    console.log('Updated ' + a[0] + ' at ' + a[1]);
    return finish(state, r, callback);
  });
}
function patch6(resourceType, path, data, options, callback) {
  return common.asyncOp(function (state) {
    var a = expandRefs(state, resourceType, path, data, options || {});
    var r = request(state.configuration, 'PATCH', legacyPath(state.configuration, a[3], a[0], a[1]), { query: a[3].params, body: a[2] });
    return finish(state, r, callback);
  });
}
function upsert6(resourceType, query, data, options, callback) {
  return common.asyncOp(function (state) {
    var a = expandRefs(state, resourceType, query, data, options || {});
    var rt = a[0], o = a[3], conf = state.configuration, r;
    if (useNewTracker6(rt)) r = callNewTracker('create_and_update', conf, { query: o.params, apiVersion: o.apiVersion }, rt, a[2]);
    else r = upsertBody(conf, rt, a[1], a[2], { query: o.params }, legacyPath(conf, o, rt), function (id) { return legacyPath(conf, o, rt, id); });
    return finish(state, r, callback);
  });
}
function destroy6(resourceType, path, data, options, callback) {
  return common.asyncOp(function (state) {
    var a = expandRefs(state, resourceType, path, data === undefined ? null : data, options || {});
    var conf = state.configuration, o = a[3], r;
    if (useNewTracker6(a[0])) r = callNewTracker('delete', conf, { query: o.params, apiVersion: o.apiVersion }, a[0], a[2]);
    else r = request(conf, 'DELETE', legacyPath(conf, o, a[0], a[1]), { query: o.params, body: a[2] });
    return finish(state, r, callback);
  });
}

// Pre-monorepo helpers (language-dhis2 ≤ 2.x); they always use the deprecated
// tracker endpoints, which DHIS2 removed in 2.42.
function postTo(resource) {
  return function (data, options, callback) {
    if (typeof options === 'function') { callback = options; options = {}; }
    return common.asyncOp(function (state) {
      var a = expandRefs(state, data, options || {});
      var r = request(state.configuration, 'POST', legacyPath(state.configuration, a[1], resource), { query: a[1].params, body: a[0] });
      console.log('Posted to ' + resource);
      return finish(state, r, callback);
    });
  };
}
function updateTEI(path, data, options, callback) {
  return common.asyncOp(function (state) {
    var a = expandRefs(state, path, data, options || {});
    var r = request(state.configuration, 'PUT', legacyPath(state.configuration, a[2], 'trackedEntityInstances', a[0]), { query: a[2].params, body: a[1] });
    return finish(state, r, callback);
  });
}
// upsertTEI(uniqueAttributeId, data, options, callback): look the TEI up by
// its unique attribute in the data's org unit; 0 → POST, 1 → PUT, >1 → throw.
function upsertTEI(uniqueAttributeId, data, options, callback) {
  if (typeof options === 'function') { callback = options; options = {}; }
  return common.asyncOp(function (state) {
    var a = expandRefs(state, uniqueAttributeId, data, options || {});
    var attr = a[0], body = a[1], o = a[2], conf = state.configuration;
    var match = (body.attributes || []).filter(function (x) { return x && x.attribute === attr; })[0];
    if (!match) throw new RangeError('upsertTEI: the data has no value for the unique attribute ' + attr);
    var path = legacyPath(conf, o, 'trackedEntityInstances');
    var q = { ou: body.orgUnit, ouMode: 'ACCESSIBLE', filter: attr + ':EQ:' + match.value };
    if (body.trackedEntityType) q.trackedEntityType = body.trackedEntityType;
    var found = request(conf, 'GET', path, { query: q });
    var list = (found.body && found.body.trackedEntityInstances) || [];
    var r;
    if (list.length > 1) throw new RangeError('upsertTEI: ' + list.length + ' tracked entity instances have ' + attr + ' = ' + match.value + '; the attribute is not unique');
    if (list.length === 1) r = request(conf, 'PUT', path + '/' + list[0].trackedEntityInstance, { body: Object.assign({}, body, { trackedEntityInstance: list[0].trackedEntityInstance }) });
    else r = request(conf, 'POST', path, { body: body });
    return finish(state, r, callback);
  });
}

// ----------------------------------------------------------------- exports ---

exports.util = {
  attr: function (attribute, value) { return { attribute: attribute, value: value }; },
  dv: function (dataElement, value) { return { dataElement: dataElement, value: value }; },
  findAttributeValue: function (te, displayName) {
    var a = ((te && te.attributes) || []).filter(function (x) { return x && String(x.displayName).toLowerCase() === String(displayName).toLowerCase(); })[0];
    return a && a.value;
  },
  findAttributeValueById: function (te, uid) {
    var a = ((te && te.attributes) || []).filter(function (x) { return x && x.attribute === uid; })[0];
    return a && a.value;
  },
  // importSummary(body) → normalised summary of any DHIS2 import response
  // (both envelopes; aggregate, tracker, legacy, metadata), or null.
  importSummary: function (body) {
    if (body === undefined || body === null) return null;
    return summaryOf(typeof body === 'string' ? body : JSON.stringify(body), false);
  },
  deriveUid: function (seed) { return host.convDeriveUid(String(seed)); },
  // Everything common's util has (encode, uuid, parseDate, …).
  encode: common.util.encode, decode: common.util.decode, uuid: common.util.uuid,
  parseDate: common.util.parseDate, expandReferences: common.util.expandReferences
};

if (MODERN) {
  exports.create = create7;
  exports.get = get7;
  exports.update = update7;
  exports.upsert = upsert7;
  exports.destroy = destroy7;
  exports.getAll = getAll;
  exports.tracker = tracker;
  exports.http = http;
} else {
  exports.create = create6;
  exports.get = get6;
  exports.update = update6;
  exports.patch = patch6;
  exports.upsert = upsert6;
  exports.destroy = destroy6;
  exports.getAll = getAll;
  exports.dataValueSet = postTo('dataValueSets');
  exports.event = postTo('events');
  exports.createTEI = postTo('trackedEntityInstances');
  exports.enrollTEI = postTo('enrollments');
  exports.updateTEI = updateTEI;
  exports.upsertTEI = upsertTEI;
  if (version.major === 6) exports.tracker = tracker;
}

// execute: defaults references/data (§2.2), migrates apiUrl → hostUrl, warns
// on apiVersion < 36 (the new tracker API).
exports.execute = function () {
  var ops = Array.prototype.slice.call(arguments);
  return function (state) {
    var initial = Object.assign({ references: [], data: null }, state);
    var v = initial.configuration && initial.configuration.apiVersion;
    if (v && +v < 36) console.warn('WARNING: This adaptor is INCOMPATIBLE with DHIS2 tracker API versions before v36. Some functionality may break.');
    return common.execute.apply(null, [migrate].concat(ops))(initial);
  };
};
