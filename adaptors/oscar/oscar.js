// OSCaR interoperability API (/api/v1) convenience adaptor: Job Mediator's
// own, OpenFn has none (the Cambodia jobs call OSCaR with http ≤5).
// host.request({method, url, headers, body, timeout}) → {status, statusText,
// headers, body, url, duration}; host.session(baseUrl) → JSON of the
// run's devise_token_auth headers for that server or ''; host.setSession(
// baseUrl, json|'') keeps them in the run, never in state.
'use strict';

Object.keys(common).forEach(function (k) { exports[k] = common[k]; });
var composeNextState = common.composeNextState;

var SIGN_IN = '/api/v1/admin_auth/sign_in';

function isObject(v) { return v !== null && typeof v === 'object'; }

function configError(message) {
  var e = new Error(message);
  e.code = 'INVALID_CONFIGURATION';
  return e;
}

function conf(state) {
  var c = state.configuration;
  if (!c || !c.baseUrl) throw configError('configuration.baseUrl is required by the oscar adaptor (e.g. https://oscar.example.org)');
  if (!c.username || !c.password) throw configError('configuration.username and configuration.password (an OSCaR admin API user) are required');
  return c;
}

function base(c) { return String(c.baseUrl).replace(/\/+$/, ''); }

function pad(n) { return n < 10 ? '0' + n : String(n); }
// OSCaR parses since_date with Time.parse; the jobs send 'YYYY-MM-DD HH:MM:SS'.
function rubyTime(v) {
  if (!(v instanceof Date)) return v;
  return v.getUTCFullYear() + '-' + pad(v.getUTCMonth() + 1) + '-' + pad(v.getUTCDate()) + ' ' +
    pad(v.getUTCHours()) + ':' + pad(v.getUTCMinutes()) + ':' + pad(v.getUTCSeconds());
}

function query(q) {
  var pairs = [];
  Object.keys(q || {}).forEach(function (k) {
    var v = q[k];
    if (v === undefined || v === null) return;
    pairs.push(encodeURIComponent(k) + '=' + encodeURIComponent(String(rubyTime(v))));
  });
  return pairs.length ? '?' + pairs.join('&') : '';
}

function parse(res, method, path) {
  if (res.body === '' || res.body === undefined) return undefined;
  try {
    return JSON.parse(res.body);
  } catch (e) {
    var err = new Error('OSCaR ' + method + ' ' + path + ' answered ' + res.status + ' with a body that is not valid JSON (an HTML error page?)');
    err.statusCode = res.status >= 400 ? res.status : undefined;
    err.code = 'INVALID_JSON';
    throw err;
  }
}

function message(body) {
  if (!isObject(body)) return '';
  var m = body.message !== undefined ? body.message : (body.errors !== undefined ? body.errors : body.error);
  if (m === undefined) return '';
  return typeof m === 'string' ? m : JSON.stringify(m);
}

function failure(method, path, res, body) {
  var msg = 'OSCaR ' + method + ' ' + path + ' returned ' + res.status + ': ' + (message(body) || res.statusText);
  if (res.status === 401) msg += ' (check configuration.username/password of the OSCaR admin API user)';
  var e = new Error(msg);
  e.statusCode = res.status;
  e.statusMessage = res.statusText;
  e.body = body;
  e.method = method;
  e.path = path;
  return e;
}

function signIn(c) {
  var url = base(c) + SIGN_IN;
  var res = host.request({ method: 'POST', url: url, headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: c.username, password: c.password }) });
  var body = res.status === 401 ? tryParse(res.body) : parse(res, 'POST', SIGN_IN);
  if (res.status >= 400) throw failure('POST', SIGN_IN, res, body);
  var h = res.headers;
  if (!h['access-token'] || !h.client) {
    var e = new Error('OSCaR sign-in answered ' + res.status + ' without access-token/client headers: is configuration.baseUrl an OSCaR server?');
    e.statusCode = res.status;
    throw e;
  }
  var session = { 'access-token': h['access-token'], client: h.client, uid: h.uid || c.username };
  host.setSession(base(c), JSON.stringify(session));
  console.log('Signed in to OSCaR as ' + session.uid);
  return body;
}

function tryParse(s) { try { return JSON.parse(s); } catch (e) { return undefined; } }

// call sends one authenticated request; a 401 (expired token) signs in
// again once and retries.
function call(state, method, path, payload) {
  var c = conf(state);
  var retried = false;
  for (;;) {
    if (!host.session(base(c))) signIn(c);
    var session = JSON.parse(host.session(base(c)));
    var headers = Object.assign({ 'Content-Type': 'application/json' }, session);
    var res = host.request({ method: method, url: base(c) + path, headers: headers,
      body: payload === undefined ? undefined : JSON.stringify(payload) });
    if (res.status === 401 && !retried) {
      retried = true;
      host.setSession(base(c), '');
      continue;
    }
    var body = res.status >= 400 ? tryParse(res.body) : parse(res, method, path.split('?')[0]);
    if (res.status >= 400) throw failure(method, path.split('?')[0], res, body);
    console.log('OSCaR ' + method + ' ' + path.split('?')[0] + ' - ' + res.status);
    return body;
  }
}

function expand(state) {
  return common.util.expandReferences.apply(null, [state].concat(Array.prototype.slice.call(arguments, 1)));
}
function done(next, callback) { return callback ? callback(next) : next; }

// OSCaR wants '' rather than null for absent values (the Cambodia jobs'
// oscarStrings helper); applied to the organization and its services.
function blanks(o) {
  var out = {};
  Object.keys(o).forEach(function (k) {
    var v = o[k];
    if (v === null || v === undefined) v = '';
    else if (k === 'services' && Array.isArray(v)) v = v.map(function (s) { return isObject(s) ? blanks(s) : s; });
    out[k] = v;
  });
  return out;
}

// signIn(callback): a fresh devise_token_auth session; data = the user.
exports.signIn = function (callback) {
  return common.asyncOp(function (state) {
    var body = signIn(conf(state));
    return done(composeNextState(state, body && body.data), callback);
  });
};

// getClients({since_date, end_date, referred_external}, callback): data =
// the clients array. since_date may be a Date (sent as UTC
// 'YYYY-MM-DD HH:MM:SS') or a string OSCaR's Time.parse accepts.
exports.getClients = function (params, callback) {
  return common.asyncOp(function (state) {
    // Expanded by hand, one level: common's expansion turns a Date into {}.
    var raw = typeof params === 'function' ? params(state) : params;
    var p = {};
    Object.keys(raw || {}).forEach(function (k) {
      var v = raw[k];
      p[k] = typeof v === 'function' ? v(state) : v;
    });
    if (p.since_date === undefined || p.since_date === null || p.since_date === '') {
      throw new Error('getClients: since_date is required (OSCaR answers every client changed on or after it)');
    }
    var body = call(state, 'GET', '/api/v1/organizations/clients' + query(p)) || {};
    return done(composeNextState(state, body.data || []), callback);
  });
};

// upsertClient({organization: {...}} | {...}, callback): one referral or
// client update; data = OSCaR's reply {external_id, message}.
exports.upsertClient = function (params, callback) {
  return common.asyncOp(function (state) {
    var p = expand(state, params)[0];
    if (!isObject(p)) throw new Error('upsertClient: pass {organization: {...}} (the client/referral fields)');
    var org = isObject(p.organization) ? p.organization : p;
    if (!org.organization_name) throw new Error('upsertClient: organization.organization_name is required (the NGO, e.g. "cif")');
    if (!org.external_id && !org.global_id) throw new Error('upsertClient: organization needs external_id (Primero case_id) or global_id (OSCaR client)');
    var body = call(state, 'POST', '/api/v1/organizations/clients/upsert', { organization: blanks(org) });
    return done(composeNextState(state, body), callback);
  });
};

function listPut(name, path) {
  return function (data, callback) {
    return common.asyncOp(function (state) {
      var d = expand(state, data)[0];
      if (isObject(d) && !Array.isArray(d) && Array.isArray(d.data)) d = d.data;
      if (!Array.isArray(d)) throw new Error(name + ': pass an array of items (or {data: [...]})');
      if (d.length === 0) {
        console.log(name + ': nothing to send');
        return done(composeNextState(state, { message: 'nothing to send' }), callback);
      }
      var body = call(state, 'PUT', path, { data: d });
      return done(composeNextState(state, body), callback);
    });
  };
}

// updateStatuses([{client_global_id, referral_id, referral_status, ...}])
exports.updateStatuses = listPut('updateStatuses', '/api/v1/organizations/referrals/update_statuses');
// updateLinks([{global_id, external_id, external_id_display}])
exports.updateLinks = listPut('updateLinks', '/api/v1/organizations/clients/update_links');

// getOrganizations(callback): data = the organizations OSCaR knows.
exports.getOrganizations = function (callback) {
  return common.asyncOp(function (state) {
    var body = call(state, 'GET', '/api/v1/organizations');
    return done(composeNextState(state, isObject(body) && body.data ? body.data : body), callback);
  });
};

exports.execute = function () {
  var ops = Array.prototype.slice.call(arguments);
  return function (state) {
    var initial = Object.assign({ references: [], data: null }, state);
    return common.execute.apply(null, ops)(initial);
  };
};
