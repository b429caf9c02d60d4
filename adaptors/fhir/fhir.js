// language-fhir-4 (FLAVOUR 'fhir-4') and language-fhir v5 (FLAVOUR 'fhir')
// for Job Mediator (design/openfn-jobs.md §5.5). host.request({method, url,
// headers, body}) → {status, statusText, headers, body, url, duration};
// host.outcome(text) → one line from an OperationOutcome ('' otherwise).
var conversions = exports.conversions;
Object.keys(common).forEach(function (k) { exports[k] = common[k]; });
exports.conversions = conversions;
var expandRefs = common.util.expandReferences;
var composeNextState = common.composeNextState;
var FHIR4 = FLAVOUR === 'fhir-4';

function isObject(v) { return v !== null && typeof v === 'object'; }
function formEnc(s) { return encodeURIComponent(s).replace(/%20/g, '+'); }
function codedError(code, message, extra) {
  var e = new Error(code + ': ' + message);
  e.code = code;
  Object.assign(e, extra || {});
  return e;
}
function splitUrl(u) {
  var m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*)?([^?#]*)(\?[^#]*)?(#.*)?$/i.exec(String(u));
  return { origin: m[1] || '', path: m[2] || '', query: m[3] ? m[3].slice(1) : '' };
}
function isAbsolute(u) { return /^[a-z][a-z0-9+.-]*:\/\//i.test(String(u)); }
// path.posix.join
function posixJoin() {
  var parts = Array.prototype.join.call(arguments, '/').split('/'), out = [];
  parts.forEach(function (p) {
    if (p === '' || p === '.') return;
    if (p === '..') out.pop(); else out.push(p);
  });
  return '/' + out.join('/');
}
function queryPairs(query) {
  var pairs = [];
  Object.keys(query || {}).forEach(function (k) {
    var v = query[k];
    if (v === undefined || v === null) return;
    [].concat(v).forEach(function (x) { pairs.push(formEnc(k) + '=' + formEnc(String(x))); });
  });
  return pairs;
}

function baseOf(conf) {
  if (!conf || !conf.baseUrl) throw codedError('INVALID_CONFIGURATION', 'configuration.baseUrl is required (e.g. https://hapi.fhir.org/baseR4 or http://host with apiPath /fhir)');
  return String(conf.baseUrl);
}

function authHeaders(conf) {
  if (FHIR4 && conf.authorization) return { Authorization: conf.authorization };
  if (conf.access_token) return { Authorization: 'Bearer ' + conf.access_token };
  if (conf.username && conf.password) return { Authorization: 'Basic ' + common.util.encode(conf.username + ':' + conf.password) };
  return {};
}

// url for a relative FHIR path; next links (absolute) must stay on baseUrl's origin.
function urlFor(conf, path, query, allowAbsolute) {
  var base = baseOf(conf), url;
  if (isAbsolute(path)) {
    if (!allowAbsolute) throw codedError('UNEXPECTED_ABSOLUTE_URL', 'use a path relative to configuration.baseUrl, not ' + path);
    if (splitUrl(path).origin.toLowerCase() !== splitUrl(base).origin.toLowerCase()) {
      throw codedError('BASE_URL_MISMATCH', 'the next link ' + path + ' leaves ' + splitUrl(base).origin);
    }
    url = path;
  } else {
    var apiPath = conf.apiPath !== undefined && conf.apiPath !== null ? conf.apiPath : (FHIR4 ? '/fhir' : '');
    var b = splitUrl(base), p = splitUrl(String(path));
    url = b.origin + posixJoin(b.path, apiPath, p.path) + (p.query ? '?' + p.query : '');
  }
  var pairs = queryPairs(query);
  if (pairs.length) url += (url.indexOf('?') >= 0 ? '&' : '?') + pairs.join('&');
  return url;
}

function request(conf, method, path, opts) {
  opts = opts || {};
  var url = urlFor(conf, path, opts.query, opts.allowAbsolute);
  var headers = { accept: 'application/fhir+json', 'content-type': 'application/fhir+json' };
  var extra = opts.headers || {};
  var userAuth = Object.keys(extra).some(function (k) { return k.toLowerCase() === 'authorization'; });
  if (!userAuth) Object.assign(headers, authHeaders(conf));
  Object.assign(headers, extra);
  var body = opts.body;
  if (body !== undefined && body !== null && typeof body !== 'string') body = JSON.stringify(body);
  var res = host.request({ method: method, url: url, headers: headers, body: body === null ? undefined : body, timeout: opts.timeout });
  var parsed;
  if (res.body !== '' && res.status !== 204) {
    try { parsed = JSON.parse(res.body.replace(/^\uFEFF/, '')); } catch (e) { parsed = res.body; }
  }
  console.log(method + ' ' + url + ' - ' + res.status + ' in ' + res.duration + 'ms');
  if (res.status >= 400) {
    var issues = host.outcome(res.body || '');
    var err = new Error(method + ' to ' + url + ' returned ' + res.status + ': ' + res.statusText + (issues ? ' — ' + issues : ''));
    if (issues) console.error('FHIR server reports issues: ' + issues);
    err.statusCode = res.status;
    err.statusMessage = res.statusText;
    err.url = url;
    err.method = method;
    err.duration = res.duration;
    err.headers = res.headers;
    err.body = parsed;
    if (isObject(parsed) && parsed.resourceType === 'OperationOutcome') err.issues = parsed.issue;
    throw err;
  }
  return { url: url, method: method, statusCode: res.status, statusMessage: res.statusText, headers: res.headers, body: parsed, duration: res.duration };
}

function prepareNextState(state, response, callback) {
  var r = Object.assign({}, response);
  delete r.body;
  var next = Object.assign(composeNextState(state, response.body), { response: r });
  return callback ? callback(next) : next;
}

function nextLink(bundle) {
  var links = (isObject(bundle) && bundle.link) || [];
  for (var i = 0; i < links.length; i++) if (links[i] && links[i].relation === 'next' && links[i].url) return links[i].url;
  return null;
}

// Follows Bundle.link next verbatim; returns every page's bundle.
function allPages(conf, first, maxPages) {
  var pages = [first.body];
  var next = nextLink(first.body);
  maxPages = maxPages || 100;
  while (next) {
    if (pages.length >= maxPages) {
      throw codedError('TOO_MANY_PAGES', 'search has more than ' + maxPages + ' pages; raise maxPages or narrow the search');
    }
    var r = request(conf, 'GET', next, { allowAbsolute: true });
    pages.push(r.body);
    next = nextLink(r.body);
  }
  return pages;
}

function entriesOf(pages) {
  var out = [];
  pages.forEach(function (b) { ((isObject(b) && b.entry) || []).forEach(function (e) { out.push(e); }); });
  return out;
}

// ------------------------------------------------------------ fhir-4 -----

function assertValidResourceId(ref) {
  if (typeof ref !== 'string' || !/[\/?]/.test(ref)) {
    throw codedError('INVALID_RESOURCE_ID', ref + ' is not a valid resource identifier: make sure the type and id are present in the reference, ie, Patient/123');
  }
}

var special = ['id', 'lastUpdated', 'tag', 'profile', 'security', 'source', 'text', 'content', 'list', 'has', 'type', 'sort',
  'count', 'include', 'revinclude', 'summary', 'total', 'elements', 'contained', 'containedType'];

var fhir4 = {
  read: function (reference) {
    return common.asyncOp(function (state) {
      var ref = expandRefs(state, reference)[0];
      assertValidResourceId(ref);
      return prepareNextState(state, request(state.configuration, 'GET', ref));
    });
  },
  search: function (resourceType, options) {
    return common.asyncOp(function (state) {
      var a = expandRefs(state, resourceType, options || {});
      var o = a[1], query = Object.assign({}, o.query || {});
      special.forEach(function (k) { if (o[k] !== undefined) query['_' + k] = o[k]; });
      console.log('Searching for ' + a[0] + 's matching: ' + queryPairs(query).join('&'));
      var first = request(state.configuration, 'GET', a[0], { query: query });
      var pages = o.all ? allPages(state.configuration, first, o.maxPages) : [first.body];
      var resources = entriesOf(pages).map(function (e) { return e.resource; });
      console.log('Search found ' + resources.length + ' ' + a[0] + 's' + (pages.length > 1 ? ' in ' + pages.length + ' pages' : ''));
      return composeNextState(state, resources);
    });
  },
  create: function (resource, options) {
    return common.asyncOp(function (state) {
      var a = expandRefs(state, resource, options || {});
      var r = a[0], o = a[1];
      if (!isObject(r) || !r.resourceType) {
        throw codedError('INVALID_RESOURCE_TYPE', 'The provided resource does not have a resourceType property: set resourceType on the resource');
      }
      var headers = Object.assign({}, o.headers || {});
      if (o.ifNoneExist) headers['If-None-Exist'] = o.ifNoneExist;
      var resp = request(state.configuration, 'POST', r.resourceType, { body: r, headers: headers });
      if (resp.statusCode === 200 && o.ifNoneExist) console.log('A matching ' + r.resourceType + ' exists (' + o.ifNoneExist + '): nothing created');
      else console.log('Created ' + (resp.body && resp.body.id));
      return prepareNextState(state, resp);
    });
  },
  update: function (reference, resource) {
    return common.asyncOp(function (state) {
      var a = expandRefs(state, reference, resource);
      assertValidResourceId(a[0]);
      console.log('Updating ' + a[0] + '...');
      var resp = request(state.configuration, 'PUT', a[0], { body: a[1] });
      console.log((resp.statusCode === 201 ? 'Created ' : 'Updated ') + a[0]);
      return prepareNextState(state, resp);
    });
  },
  'delete': function (reference) {
    return common.asyncOp(function (state) {
      var ref = expandRefs(state, reference)[0];
      assertValidResourceId(ref);
      return prepareNextState(state, request(state.configuration, 'DELETE', ref));
    });
  },
  createBundle: function (options, props) {
    return function (state) {
      var a = expandRefs(state, options || {}, props || {});
      var name = a[0].name || 'bundle';
      state[name] = Object.assign({ resourceType: 'Bundle', type: a[0].type || 'transaction', entry: [] }, a[1]);
      return state;
    };
  },
  addToBundle: function (resources, name) {
    return function (state) {
      var a = expandRefs(state, resources, name || 'bundle');
      var n = a[1];
      if (!state[n]) state[n] = { resourceType: 'Bundle', type: 'transaction', entry: [] };
      [].concat(a[0]).forEach(function (r) {
        state[n].entry.push({ resource: r, request: { method: 'PUT', url: r.resourceType + '/' + r.id } });
      });
      return state;
    };
  },
  uploadBundle: function (bundle) {
    return common.asyncOp(function (state) {
      var b = expandRefs(state, bundle === undefined ? 'bundle' : bundle)[0];
      var data = typeof b === 'string' ? state[b] : (b || state.bundle);
      if (!isObject(data)) {
        throw codedError('INVALID_BUNDLE', 'You have passed in invalid bundle or bundle name to uploadBundle(): pass the name of a key on state that references a bundle, or a bundle object', { bundle: b === undefined || b === null ? 'bundle (default)' : b });
      }
      data.entry = sortBundle(data.entry || []);
      return prepareNextState(state, request(state.configuration, 'POST', '/', { body: data }));
    });
  }
};

function collectRefs(v, out) {
  if (!isObject(v)) return out;
  if (Array.isArray(v)) { v.forEach(function (x) { collectRefs(x, out); }); return out; }
  if (typeof v.reference === 'string') out.push(v.reference);
  Object.keys(v).forEach(function (k) { collectRefs(v[k], out); });
  return out;
}

// Orders entries so a resource comes after those it references (Type/id
// among the entries); ties and cycles keep the original order.
function sortBundle(entries) {
  var idx = {};
  entries.forEach(function (e, i) {
    var r = e && e.resource;
    if (r && r.resourceType && r.id) idx[r.resourceType + '/' + r.id] = i;
  });
  var n = entries.length, indeg = [], after = [];
  for (var i = 0; i < n; i++) { indeg.push(0); after.push([]); }
  entries.forEach(function (e, i) {
    var seen = {};
    collectRefs(e && e.resource, []).forEach(function (ref) {
      var j = idx[ref];
      if (j !== undefined && j !== i && !seen[j]) { seen[j] = true; after[j].push(i); indeg[i]++; }
    });
  });
  var ready = [], out = [], done = {};
  for (var k = 0; k < n; k++) if (indeg[k] === 0) ready.push(k);
  while (ready.length) {
    ready.sort(function (x, y) { return x - y; });
    var cur = ready.shift();
    out.push(entries[cur]); done[cur] = true;
    after[cur].forEach(function (d) { if (--indeg[d] === 0) ready.push(d); });
  }
  for (var m = 0; m < n; m++) if (!done[m]) out.push(entries[m]);
  return out;
}

// -------------------------------------------------------------- fhir 5 -----

var fhir5 = {
  request: function (method, path, options, callback) {
    return common.asyncOp(function (state) {
      var a = expandRefs(state, method, path, options || {});
      return prepareNextState(state, request(state.configuration, String(a[0]).toUpperCase(), a[1], a[2]), callback);
    });
  },
  post: function (path, data, options, callback) {
    return common.asyncOp(function (state) {
      var a = expandRefs(state, path, data, options || {});
      return prepareNextState(state, request(state.configuration, 'POST', a[0], Object.assign({}, a[2], { body: a[1] })), callback);
    });
  },
  get: function (path, params, options, callback) {
    return common.asyncOp(function (state) {
      var a = expandRefs(state, path, params || {}, options || {});
      var o = a[2];
      var r = request(state.configuration, 'GET', a[0], Object.assign({}, o, { query: a[1] }));
      if (o.all && isObject(r.body) && r.body.resourceType === 'Bundle') {
        var pages = allPages(state.configuration, r, o.maxPages);
        var merged = Object.assign({}, r.body, { entry: entriesOf(pages) });
        merged.link = (r.body.link || []).filter(function (l) { return l.relation === 'self'; });
        r = Object.assign({}, r, { body: merged });
      }
      return prepareNextState(state, r, callback);
    });
  },
  create: function (resourceType, resource, params, callback) {
    return common.asyncOp(function (state) {
      var a = expandRefs(state, resourceType, resource, params || {});
      var opts = Object.assign({}, a[2], { body: Object.assign({}, a[1], { resourceType: a[0] }) });
      return prepareNextState(state, request(state.configuration, 'POST', a[0], opts), callback);
    });
  },
  createTransactionBundle: function (entries, callback) {
    return common.asyncOp(function (state) {
      var e = expandRefs(state, entries)[0];
      return prepareNextState(state, request(state.configuration, 'POST', '/', { body: { resourceType: 'Bundle', type: 'transaction', entry: e } }), callback);
    });
  },
  getClaim: function (claimId, params, callback) {
    return common.asyncOp(function (state) {
      var a = expandRefs(state, claimId, params || {});
      return prepareNextState(state, request(state.configuration, 'GET', a[0] ? 'Claim/' + a[0] : 'Claim', { query: a[1] }), callback);
    });
  }
};

var ops = FHIR4 ? fhir4 : fhir5;
Object.keys(ops).forEach(function (k) { exports[k] = ops[k]; });

// execute: defaults references/data (§2.2).
exports.execute = function () {
  var list = Array.prototype.slice.call(arguments);
  return function (state) {
    return common.execute.apply(null, list)(Object.assign({ references: [], data: null }, state));
  };
};
