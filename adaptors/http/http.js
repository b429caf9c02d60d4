// language-http for Job Mediator, two generations chosen by version.major:
//   ≤5: axios era (design/openfn-jobs.md §5.1)
//   ≥6: undici era, common's HTTP engine (§4.4, §5.2)
// host.request({method, url, headers, body, timeout}) → {status, statusText,
// headers, setCookie, body, url, duration}; host.cookies(url) / host.storeCookies(url, list)
// keep the run's cookie jar (http ≤5 keepCookie).
'use strict';

Object.keys(common).forEach(function (k) { exports[k] = common[k]; });
var expandRefs = common.util.expandReferences;
var composeNextState = common.composeNextState;

function isObject(v) { return v !== null && typeof v === 'object'; }
function hasHeader(h, name) {
  return Object.keys(h || {}).some(function (k) { return k.toLowerCase() === name; });
}
function basic(user, pass) {
  return 'Basic ' + common.util.encode(user + ':' + (pass === undefined || pass === null ? '' : pass));
}
function enc(s) { return encodeURIComponent(s); }
// application/x-www-form-urlencoded as URLSearchParams writes it
function formEnc(s) { return encodeURIComponent(s).replace(/%20/g, '+').replace(/[!'()~]/g, function (c) { return '%' + c.charCodeAt(0).toString(16).toUpperCase(); }); }

function splitUrl(u) {
  var m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*)?([^?#]*)(\?[^#]*)?(#.*)?$/i.exec(u);
  return { origin: m[1] || '', path: m[2] || '', query: m[3] ? m[3].slice(1) : '', hash: m[4] || '' };
}
function isAbsolute(u) { return /^[a-z][a-z0-9+.-]*:\/\//i.test(u); }

function appendQuery(url, pairs) {
  if (!pairs.length) return url;
  var s = splitUrl(url);
  var q = s.query ? s.query + '&' + pairs.join('&') : pairs.join('&');
  return s.origin + s.path + '?' + q + s.hash;
}

// axios params serialisation (arrays as key[]=v, objects JSON, Dates ISO):
// language-common's, shared with its 1.x http namespace.
var axiosParams = common.axiosParams;

// ---------------------------------------------------------------- ≥ 6 -------

// getTLSOptions is language-http's: the request's tls, else its
// (deprecated) agentOptions, else configuration.tls. host.request applies
// ca, cert, key, rejectUnauthorized and servername in a real handshake.
function getTLSOptions(state, requestOptions) {
  var conf = state.configuration || {};
  var o = requestOptions || {};
  if (o.tls !== undefined && o.tls !== null) return o.tls;
  if (o.agentOptions !== undefined && o.agentOptions !== null) return o.agentOptions;
  return conf.tls;
}

// multipart encodes a form-data body (RFC 7578) from an object: one part
// per key, null/undefined skipped, objects as JSON, Buffers as their bytes.
function multipart(data) {
  var boundary = '----formdata-jobmediator-' + common.util.uuid().replace(/-/g, '');
  var out = '';
  Object.keys(data || {}).forEach(function (k) {
    var v = data[k];
    if (v === null || v === undefined) return;
    var value = v && v.__isBuffer ? v.toString('binary') : (typeof v === 'object' ? JSON.stringify(v) : String(v));
    out += '--' + boundary + '\r\nContent-Disposition: form-data; name="' + String(k).replace(/"/g, '%22').replace(/\r|\n/g, ' ') + '"\r\n\r\n' + value + '\r\n';
  });
  out += '--' + boundary + '--\r\n';
  return { body: out, contentType: 'multipart/form-data; boundary=' + boundary };
}

// modernRequest (the request itself, from resolved arguments to the
// response object) is native: host.modernRequest, adaptors/http/modern.go.

// assertUrl is the part of a ≥6 request that runs before the request is
// sent, so it throws synchronously (OpenFn's util.request: assertUrl, then
// `return commonRequest(…).then(…)`); everything after it rejects.
function assertUrl(path, baseUrl) {
  if (!baseUrl && path && !isAbsolute(path)) {
    var e = new Error('UNEXPECTED_RELATIVE_URL: ' + path + ' is relative but configuration.baseUrl is not set');
    e.code = 'UNEXPECTED_RELATIVE_URL';
    throw e;
  }
  if (!baseUrl && !path) {
    var e2 = new Error('NO_URL: no URL was given and configuration.baseUrl is not set');
    e2.code = 'NO_URL';
    throw e2;
  }
}

// modernCall is a ≥6 operation once its arguments are expanded: assertUrl
// throws synchronously, and the request runs at once inside common's
// asyncOp shape (its result or its throw as a promise). Written out rather
// than as asyncOp(function () {…})(): two closures fewer per request.
function modernCall(state, method, path, options, callback) {
  assertUrl(path, (state.configuration || {}).baseUrl);
  try {
    return Promise.resolve(modernResult(state, method, path, options, callback));
  } catch (e) {
    return Promise.reject(e);
  }
}

// modernResult: host.modernRequest answers the response object without
// its body, which it hands to composeNextState; the next state gets the
// response ({...composeNextState(state, body), response}).
function modernResult(state, method, path, options, callback) {
  var next = host.modernRequest(method, path, options, state, composeNextState);
  return callback ? callback(next) : next;
}

function modernOp(method, path, options, callback) {
  return function (state) {
    var args = expandRefs(state, path, options);
    return modernCall(state, method, args[0], args[1], callback);
  };
}

// --------------------------------------------------------------- ≤ 5 --------

var axiosKeys = ['agentOptions', 'body', 'json', 'data', 'form', 'formData', 'headers', 'options', 'params', 'url'];

function legacySetUrl(conf, path) {
  if (isAbsolute(path)) return path;
  if (conf && conf.baseUrl) return String(conf.baseUrl).replace(/\/+$/, '') + '/' + String(path).replace(/^\/+/, '');
  return path;
}

function legacyRequest(method, path, params, state) {
  var conf = state.configuration || {};
  params = params || {};
  var p = {};
  Object.keys(params).forEach(function (k) {
    var v = params[k];
    if (axiosKeys.indexOf(k) >= 0) v = common.util.expandReferences(state, v)[0];
    else if (typeof v === 'function' && k !== 'transformResponse') v = {}; // query/qs functions are spread as {}
    p[k] = v;
  });
  var tls = p.agentOptions || conf.tls;
  var url = legacySetUrl(conf, path);
  var headers = Object.assign({}, p.headers || {});
  var auth = p.authentication || p.auth;
  if (auth) headers.Authorization = basic(auth.username || auth.user, auth.password || auth.pass);
  else if (conf.username) headers.Authorization = basic(conf.username, conf.password);
  var query = Object.assign({}, p.query || {}, p.qs || {}, p.params || {});
  url = appendQuery(url, axiosParams(query));
  var body = p.body !== undefined ? p.body : (p.data !== undefined ? p.data : p.json);
  if (p.formData) {
    // multipart/form-data, one part per key
    var fd = multipart(p.formData);
    body = fd.body;
    headers['Content-Type'] = fd.contentType;
  } else if (p.form) {
    // the request library's `form`: application/x-www-form-urlencoded
    body = typeof p.form === 'string' ? p.form : Object.keys(p.form).map(function (k) {
      return formEnc(k) + '=' + formEnc(p.form[k] === null || p.form[k] === undefined ? '' : String(p.form[k]));
    }).join('&');
    if (!hasHeader(headers, 'content-type')) headers['Content-Type'] = 'application/x-www-form-urlencoded';
  } else if (body !== undefined && body !== null && typeof body !== 'string') {
    body = JSON.stringify(body);
    if (!hasHeader(headers, 'content-type')) headers['Content-Type'] = 'application/json';
  }
  if (p.json !== undefined && !hasHeader(headers, 'content-type')) headers['Content-type'] = 'application/json';
  var jar = host.cookies(url);
  if (jar && !hasHeader(headers, 'cookie')) headers.Cookie = jar;
  var res = host.request({ method: method, url: url, headers: headers, body: body, timeout: p.timeout, tls: tls });
  if (res.setCookie && res.setCookie.length) host.storeCookies(url, res.setCookie);
  var successCodes = p.options && p.options.successCodes;
  var ok = successCodes ? successCodes.indexOf(res.status) >= 0 : (res.status >= 200 && res.status < 300);
  var data;
  if (p.transformResponse) {
    data = res.body;
    [].concat(p.transformResponse).forEach(function (f) { data = f(data, res.headers); });
  } else {
    data = res.body;
    try { data = JSON.parse(res.body); } catch (e) { /* keep text */ }
  }
  var safeHeaders = Object.assign({}, headers);
  delete safeHeaders.Authorization;
  var response = {
    status: res.status, statusText: res.statusText, headers: res.headers,
    config: { url: url, method: method.toLowerCase(), headers: safeHeaders, params: query, data: body },
    data: data
  };
  if (!ok) {
    var err = new Error('Request failed with status code ' + res.status);
    err.response = response;
    err.config = response.config;
    err.statusCode = res.status;
    err.code = res.status >= 500 ? 'ERR_BAD_RESPONSE' : 'ERR_BAD_REQUEST';
    throw err;
  }
  console.log(method + ' request succeeded with ' + res.status + ' \u2713');
  if (p.keepCookie) {
    if (Array.isArray(data)) data = { body: data };
    else if (!isObject(data)) data = { body: data };
    var sc = res.setCookie || [];
    data = Object.assign({}, data, { __cookie: sc.length === 1 ? sc[0] : sc, __headers: res.headers });
  } else if (typeof data === 'string') {
    data = { body: data };
  }
  response.httpStatus = res.status;
  response.message = res.statusText;
  return { data: data, response: response };
}

// ≤5 operations are promise chains from the first line (axios), so any
// failure, even a bad argument, is a rejection.
function legacyOp(method, path, params, callback) {
  return common.asyncOp(function (state) {
    var resolvedPath = common.util.expandReferences(state, path)[0];
    var resolvedParams = typeof params === 'function' ? params(state) : params;
    var r = legacyRequest(method, resolvedPath, resolvedParams, state);
    var next = Object.assign(composeNextState(state, r.data), { response: r.response });
    return callback ? callback(next) : next;
  });
}

// ----------------------------------------------------------------- exports ---

if (version.major <= 5) {
  exports.get = function (path, params, callback) { return legacyOp('GET', path, params, callback); };
  exports.post = function (path, params, callback) { return legacyOp('POST', path, params, callback); };
  exports.put = function (path, params, callback) { return legacyOp('PUT', path, params, callback); };
  exports.patch = function (path, params, callback) { return legacyOp('PATCH', path, params, callback); };
  exports.del = function (path, params, callback) { return legacyOp('DELETE', path, params, callback); };
  // request(params) resolves to the parsed body and does not return state.
  exports.request = function (params) {
    return common.asyncOp(function (state) {
      var p = common.util.expandReferences(state, params)[0];
      return legacyRequest(String(p.method || 'GET').toUpperCase(), p.url || p.uri, p, state).data;
    });
  };
} else if (version.major === 6) {
  exports.get = function (path, options, callback) { return modernOp('GET', path, options, callback); };
  exports.post = function (path, options, callback) { return modernOp('POST', path, options, callback); };
  exports.put = function (path, options, callback) { return modernOp('PUT', path, options, callback); };
  exports.patch = function (path, options, callback) { return modernOp('PATCH', path, options, callback); };
  exports.del = function (path, options, callback) { return modernOp('DELETE', path, options, callback); };
  exports.request = function (method, path, options, callback) { return modernOp(String(method).toUpperCase(), path, options, callback); };
} else {
  var withData = function (method) {
    return function (path, data, options) {
      return function (state) {
        var args = expandRefs(state, data, options);
        var o = args[1] ? Object.assign({}, args[1]) : {};
        if (args[0] !== undefined) o.body = args[0];
        // the path is expanded after data and options, as in OpenFn; the
        // options were expanded already (a second pass would only copy them)
        return modernCall(state, method, expandRefs(state, path)[0], o);
      };
    };
  };
  exports.get = function (path, options) { return modernOp('GET', path, options); };
  exports.post = withData('POST');
  exports.put = withData('PUT');
  exports.patch = withData('PATCH');
  exports.del = function (path, options) { return modernOp('DELETE', path, options); };
  exports.request = function (method, path, options) { return modernOp(String(method).toUpperCase(), path, options); };
}

// util (≥6): language-http's src/util.js namespace. util.request is the
// operation behind get/post/…; encode/decode/uuid are common's.
if (version.major >= 6) {
  exports.util = {
    CONTENT_TYPES: { xml: 'application/xml', json: 'application/json', string: 'text/plain' },
    request: function (method, path, params) { return modernOp(String(method).toUpperCase(), path, params); },
    getTLSOptions: getTLSOptions,
    encode: function (data, options) {
      if (options && options.parseJson === false && typeof data !== 'string') data = String(data);
      return common.util.encode(data);
    },
    decode: common.util.decode,
    uuid: common.util.uuid,
    xmlParser: function () { return exports.parseXML.apply(null, arguments); }
  };
}

// ---- parseXML: cheerio ----------------------------------------------------
// parseXML(body, script) loads body with cheerio (+ cheerio-tableparser)
// and hands $ to script; data is JSON.parse(result) or {body: result}, or
// {body} without a script. Per major (from the npm packages):
//   ≤2    cheerio 1.0.0-rc.2 (htmlparser2, not parse5): not implemented,
//         fails with UNSUPPORTED.
//   3–5   body used as given (not expanded); cheerio ^1.0.0-rc.3/rc.10.
//   6     body expanded; (body, script, callback); cheerio 1.0.0-rc.12.
//   7     parseXML(data, script) passes {body: data} to cheerio.load, which
//         makes a document with no elements: the script sees an empty
//         document ($(…) is always empty, .text() ''), and without a
//         script data is {body: {body: data}}. Kept as upstream does it.
// The documents are parsed in Go (xml.go) as parse5 does; $ here is the
// subset of cheerio's API real jobs use: $(selector[, context]),
// $(element), $.root(), and on a selection .length, [i], .find, .children,
// .parent, .filter, .first, .last, .eq, .get, .toArray, .each, .map, .text,
// .attr, .html, .is, .parsetable(dupCols, dupRows, textMode). Anything
// else is undefined on the selection (a TypeError in the job).
var XML_NODE = typeof Symbol === 'function' ? Symbol('jmNode') : '__jmNode';

function xmlElement(id) {
  var d = host.xmlNode(id);
  var el = { type: d.type };
  if (d.type === 'tag') { el.name = d.name; el.tagName = d.name; el.attribs = d.attribs; } else if (d.data !== undefined) { el.data = d.data; }
  Object.defineProperty(el, XML_NODE, { value: id, enumerable: false });
  return el;
}

function makeCheerio(rootId) {
  function wrap(items) {
    var sel = Object.create(proto);
    for (var i = 0; i < items.length; i++) sel[i] = items[i];
    Object.defineProperty(sel, 'length', { value: items.length, enumerable: false, writable: true });
    return sel;
  }
  function ids(sel) {
    var out = [];
    for (var i = 0; i < sel.length; i++) if (sel[i] && sel[i][XML_NODE] !== undefined) out.push(sel[i][XML_NODE]);
    return out;
  }
  function fromIds(list) { return wrap(list.map(xmlElement)); }
  var proto = {
    find: function (selector) { return fromIds(host.xmlSelect(ids(this), String(selector), 'find')); },
    children: function (selector) { return fromIds(host.xmlSelect(ids(this), selector === undefined ? '' : String(selector), 'children')); },
    parent: function (selector) { return fromIds(host.xmlSelect(ids(this), selector === undefined ? '' : String(selector), 'parent')); },
    filter: function (f) {
      if (typeof f === 'function') {
        var kept = [];
        for (var i = 0; i < this.length; i++) if (f.call(this[i], i, this[i])) kept.push(this[i]);
        return wrap(kept);
      }
      return fromIds(host.xmlSelect(ids(this), String(f), 'filter'));
    },
    is: function (selector) { return this.filter(selector).length > 0; },
    first: function () { return wrap(this.length ? [this[0]] : []); },
    last: function () { return wrap(this.length ? [this[this.length - 1]] : []); },
    eq: function (i) { i = Number(i); if (i < 0) i += this.length; return wrap(this[i] === undefined ? [] : [this[i]]); },
    get: function (i) {
      if (i === undefined) return this.toArray();
      return this[i < 0 ? this.length + i : i];
    },
    toArray: function () { var a = []; for (var i = 0; i < this.length; i++) a.push(this[i]); return a; },
    each: function (f) {
      for (var i = 0; i < this.length; i++) if (f.call(this[i], i, this[i]) === false) break;
      return this;
    },
    map: function (f) {
      var out = [];
      for (var i = 0; i < this.length; i++) {
        var v = f.call(this[i], i, this[i]);
        if (v === null || v === undefined) continue;
        if (Array.isArray(v)) out.push.apply(out, v); else out.push(v);
      }
      return wrap(out);
    },
    text: function () { return host.xmlText(ids(this)); },
    attr: function (name) {
      if (!this.length || !this[0].attribs) return undefined;
      if (typeof name === 'string') {
        var a = this[0].attribs;
        return Object.prototype.hasOwnProperty.call(a, name) ? a[name] : (Object.prototype.hasOwnProperty.call(a, name.toLowerCase()) ? a[name.toLowerCase()] : undefined);
      }
      return this[0].attribs;
    },
    html: function () { return this.length && this[0][XML_NODE] !== undefined ? host.xmlHTML(this[0][XML_NODE]) : null; },
    // cheerio-tableparser 1.0.1: the cells of every <tr> under the
    // selection as columns, rowspan/colspan cells filled in (with their
    // content when dupRows/dupCols, else ''); textMode takes trimmed text
    // instead of inner HTML.
    parsetable: function (dupCols, dupRows, textMode) {
      var cols = [];
      var rows = $('tr', this);
      for (var r = 0; r < rows.length; r++) {
        var col = 0;
        var cells = $('td, th', rows[r]);
        for (var c = 0; c < cells.length; c++) {
          var cell = $(cells[c]);
          var rs = cell.attr('rowspan') || 1, cs = cell.attr('colspan') || 1;
          var content = textMode === true ? (cell.text().trim() || '') : (cell.html() || '');
          for (var dr = 0; dr < rs; dr++) {
            for (var dc = 0; dc < cs; dc++) {
              if (cols[col + dc] === undefined) cols[col + dc] = [];
              while (cols[col + dc][r + dr] !== undefined) {
                col++;
                if (cols[col + dc] === undefined) cols[col + dc] = [];
              }
              cols[col + dc][r + dr] = (dr === 0 || dupRows) && (dc === 0 || dupCols) ? content : '';
            }
          }
          col++;
        }
      }
      return cols;
    }
  };
  function $(selector, context) {
    if (selector === undefined || selector === null || selector === '') return wrap([]);
    if (typeof selector === 'object') {
      if (selector[XML_NODE] !== undefined) return wrap([selector]);
      if (typeof selector.length === 'number') return wrap(Array.prototype.slice.call(selector));
      return wrap([]);
    }
    var ctx = context === undefined ? [rootId] : ids(typeof context === 'object' && context[XML_NODE] !== undefined ? wrap([context]) : (typeof context === 'string' ? $(context) : context));
    return fromIds(host.xmlSelect(ctx, String(selector), 'find'));
  }
  $.root = function () { return fromIds([rootId]); };
  $.text = function (sel) { return sel === undefined ? host.xmlText([rootId]) : $(sel).text(); };
  $.prototype = proto;
  $.fn = proto;
  return $;
}

function xmlResult(state, script, body, $) {
  if (!script) return composeNextState(state, { body: body });
  var result = script($);
  var r;
  try { r = JSON.parse(result); } catch (e) { return composeNextState(state, { body: result }); }
  return composeNextState(state, r);
}

if (version.major <= 2) {
  exports.parseXML = function () {
    return function () {
      var e = new Error('parseXML of language-http ' + version.major + '.x (cheerio 1.0.0-rc.2, htmlparser2) is not supported by Job Mediator; pin language-http 3–6, whose cheerio parses as implemented here');
      e.code = 'UNSUPPORTED';
      throw e;
    };
  };
} else if (version.major <= 5) {
  exports.parseXML = function (body, script) {
    return function (state) {
      var $ = makeCheerio(typeof body === 'string' ? host.xmlLoad(body) : host.xmlEmpty());
      return xmlResult(state, script, body, $);
    };
  };
} else if (version.major === 6) {
  exports.parseXML = function (body, script, callback) {
    return function (state) {
      var resolved = common.util.expandReferences(state, body)[0];
      var $ = makeCheerio(typeof resolved === 'string' ? host.xmlLoad(resolved) : host.xmlEmpty());
      var next = xmlResult(state, script, resolved, $);
      return callback ? callback(next) : next;
    };
  };
} else {
  exports.parseXML = function (data, script) {
    return function (state) {
      var resolved = common.util.expandReferences(state, { body: data })[0];
      // cheerio.load of an object: a document without elements, which
      // adopts the object as its child node (domhandler's prev/next/parent
      // links), so a script-less data.body carries them, the root's
      // children pointing back at it ("[Circular]" in the final state).
      var $ = makeCheerio(host.xmlEmpty());
      resolved.prev = null;
      resolved.next = null;
      resolved.parent = { parent: null, prev: null, next: null, startIndex: null, endIndex: null, children: [resolved], type: 'root' };
      return xmlResult(state, script, resolved, $);
    };
  };
}

// http/dhis2/fhir execute: defaults references: [] and data: null (§2.2).
exports.execute = function () {
  var ops = Array.prototype.slice.call(arguments);
  return function (state) {
    var initial = Object.assign({ references: [], data: null }, state);
    return common.execute.apply(null, ops)(initial);
  };
};
