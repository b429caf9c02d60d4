// language-common for Job Mediator, written from the behaviour described in
// design/openfn-jobs.md §4 (not from OpenFn's sources). Evaluated as
//   (function (exports, common, host, version) { … })
// host: now() → epoch ms of the run's clock, b64encode(s), b64decode(s), uuid().
'use strict';

var V = version;
function ge(major, minor, patch) {
  if (V.major !== major) return V.major > major;
  if (V.minor !== minor) return V.minor > minor;
  return V.patch >= (patch || 0);
}

function isObject(v) { return v !== null && typeof v === 'object'; }
function isStream(v) { return isObject(v) && typeof v.pipe === 'function' && typeof v.on === 'function'; }
function isBufferLike(v) { return isObject(v) && v.__isBuffer === true; }

// ---- references (§4.1) -----------------------------------------------------

// expandOne runs for every request body and mapping an adaptor expands,
// so its walk is written out: a callback per element (map, forEach) was
// 15% of a small FHIR post's CPU. A plain array is mapped as map does
// (same length, holes kept); any other array still goes through map.
// host.expand walks primitives, functions, plain arrays and plain objects
// in Go (adaptors/common/expand.go) and hands anything else to expandJS.
var keepSpecial = ge(2, 3, 0);
function expandOne(value, state) { return host.expand(value, state, expandJS, keepSpecial); }
function expandJS(value, state) {
  if (typeof value === 'function') return expandJS(value(state), state);
  if (Array.isArray(value)) {
    if (value.constructor !== Array) return value.map(function (v) { return expandJS(v, state); });
    var n = value.length, arr = new Array(n);
    for (var i = 0; i < n; i++) if (i in value) arr[i] = expandJS(value[i], state);
    return arr;
  }
  if (isObject(value)) {
    if (keepSpecial && (value instanceof RegExp || isBufferLike(value))) return value;
    if (isStream(value)) return value;
    var out = {};
    var ks = Object.keys(value);
    for (var j = 0; j < ks.length; j++) out[ks[j]] = expandJS(value[ks[j]], state);
    return out;
  }
  return value;
}

// 1.x style, exported from the package root: expandReferences(value)(state).
function expandReferences(value) {
  return function (state) { return expandOne(value, state); };
}

// ---- JSONPath (§4.2), jsonpath-plus compatible for the paths jobs use ------

function parsePath(path) {
  if (typeof path !== 'string') throw new TypeError('JSONPath must be a string, got ' + typeof path);
  var i = 0, segs = [];
  var p = path.trim();
  if (p[0] === '$') i = 1;
  else if (p[0] !== '.' && p[0] !== '[') p = '.' + p, i = 0;
  while (i < p.length) {
    var c = p[i];
    if (c === '.') {
      var desc = false;
      if (p[i + 1] === '.') { desc = true; i += 2; } else i += 1;
      if (p[i] === '[') { var br = readBracket(p, i); i = br.end; segs.push({ desc: desc, sel: br.sel }); continue; }
      var j = i;
      while (j < p.length && p[j] !== '.' && p[j] !== '[') j++;
      var name = p.slice(i, j);
      i = j;
      segs.push({ desc: desc, sel: name === '*' ? { wild: true } : { keys: [name] } });
    } else if (c === '[') {
      var b = readBracket(p, i);
      i = b.end;
      segs.push({ desc: false, sel: b.sel });
    } else {
      throw new SyntaxError('JSONPath ' + JSON.stringify(path) + ': unexpected ' + JSON.stringify(c) + ' at ' + i);
    }
  }
  return segs;
}

function readBracket(p, i) {
  // i points at '['
  var j = i + 1;
  if (p[j] === '?' || p[j] === '(') {
    var depth = 0, k = j, q = null;
    for (; k < p.length; k++) {
      var ch = p[k];
      if (q) { if (ch === '\\') k++; else if (ch === q) q = null; continue; }
      if (ch === '"' || ch === "'") q = ch;
      else if (ch === '(') depth++;
      else if (ch === ')') { depth--; if (depth === 0) break; }
    }
    var expr = p.slice(p[j] === '?' ? j + 2 : j + 1, k);
    if (p[k + 1] !== ']') throw new SyntaxError('JSONPath: unterminated filter in ' + JSON.stringify(p));
    return { end: k + 2, sel: p[j] === '?' ? { filter: compileFilter(expr) } : { script: compileFilter(expr) } };
  }
  var parts = [], cur = '', quote = null;
  for (; j < p.length; j++) {
    var ch2 = p[j];
    if (quote) {
      if (ch2 === '\\' && j + 1 < p.length) { cur += p[++j]; continue; }
      if (ch2 === quote) { quote = null; continue; }
      cur += ch2;
      continue;
    }
    if (ch2 === "'" || ch2 === '"') { quote = ch2; parts.push({ quoted: true }); continue; }
    if (ch2 === ']') break;
    if (ch2 === ',') { parts.push({ sep: true, v: cur }); cur = ''; continue; }
    cur += ch2;
  }
  if (j >= p.length) throw new SyntaxError('JSONPath: missing ] in ' + JSON.stringify(p));
  var quoted = parts.some(function (x) { return x.quoted; });
  var items = [];
  var raw = p.slice(i + 1, j);
  if (quoted) {
    // re-split respecting quotes
    items = splitQuoted(raw);
    return { end: j + 1, sel: { keys: items } };
  }
  raw = raw.trim();
  if (raw === '*') return { end: j + 1, sel: { wild: true } };
  if (raw.indexOf(':') >= 0) {
    var sp = raw.split(':').map(function (s) { return s.trim() === '' ? undefined : parseInt(s, 10); });
    return { end: j + 1, sel: { slice: sp } };
  }
  items = raw.split(',').map(function (s) { return s.trim(); });
  return { end: j + 1, sel: { keys: items, numeric: items.every(function (s) { return /^-?\d+$/.test(s); }) } };
}

function splitQuoted(raw) {
  var out = [], i = 0;
  while (i < raw.length) {
    var c = raw[i];
    if (c === "'" || c === '"') {
      var s = '', j = i + 1;
      for (; j < raw.length && raw[j] !== c; j++) { if (raw[j] === '\\') j++; s += raw[j]; }
      out.push(s);
      i = j + 1;
    } else if (c === ',' || c === ' ') i++;
    else {
      var k = i;
      while (k < raw.length && raw[k] !== ',') k++;
      out.push(raw.slice(i, k).trim());
      i = k;
    }
  }
  return out;
}

// A small expression language for filters and scripts: @-paths, literals,
// arithmetic (+ - * / %, unary -), comparison, boolean logic (&&, ||, !),
// parentheses, and .length — enough for [?(@.id >= 2)] and
// [(@.length-1)]; no function calls or arbitrary JS.
function compileFilter(src) {
  var toks = [], i = 0;
  var re = /\s+|(@(?:\.[A-Za-z_$][\w$]*|\[[^\]]*\])*)|('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|(\d+(?:\.\d+)?)|(===|!==|==|!=|<=|>=|&&|\|\||[<>!()+\-*\/%])|(true|false|null|undefined)/y;
  while (i < src.length) {
    re.lastIndex = i;
    var m = re.exec(src);
    if (!m) throw new SyntaxError('JSONPath filter ' + JSON.stringify(src) + ': cannot parse at ' + JSON.stringify(src.slice(i)));
    i = re.lastIndex;
    if (m[1]) toks.push({ t: 'path', v: m[1] });
    else if (m[2]) toks.push({ t: 'lit', v: m[2].slice(1, -1).replace(/\\(.)/g, '$1') });
    else if (m[3]) toks.push({ t: 'lit', v: parseFloat(m[3]) });
    else if (m[4]) toks.push({ t: 'op', v: m[4] });
    else if (m[5]) toks.push({ t: 'lit', v: { 'true': true, 'false': false, 'null': null, 'undefined': undefined }[m[5]] });
  }
  var pos = 0;
  function peek() { return toks[pos]; }
  function isOp(v) { return peek() && peek().t === 'op' && peek().v === v; }
  function or() { var l = and(); while (isOp('||')) { pos++; var r = and(); l = mk2(l, r, function (a, b) { return a || b; }); } return l; }
  function and() { var l = cmp(); while (isOp('&&')) { pos++; var r = cmp(); l = mk2(l, r, function (a, b) { return a && b; }); } return l; }
  var cmps = {
    '==': function (a, b) { return a == b; }, '===': function (a, b) { return a === b; },
    '!=': function (a, b) { return a != b; }, '!==': function (a, b) { return a !== b; },
    '<': function (a, b) { return a < b; }, '>': function (a, b) { return a > b; },
    '<=': function (a, b) { return a <= b; }, '>=': function (a, b) { return a >= b; }
  };
  var ariths = {
    '+': function (a, b) { return a + b; }, '-': function (a, b) { return a - b; },
    '*': function (a, b) { return a * b; }, '/': function (a, b) { return a / b; }, '%': function (a, b) { return a % b; }
  };
  function cmp() {
    var l = add();
    var t = peek();
    if (t && t.t === 'op' && cmps[t.v]) { pos++; var r = add(); return mk2(l, r, cmps[t.v]); }
    return l;
  }
  function binary(next, ops) {
    return function () {
      var l = next();
      while (peek() && peek().t === 'op' && ops.indexOf(peek().v) >= 0) {
        var f = ariths[toks[pos++].v];
        l = mk2(l, next(), f);
      }
      return l;
    };
  }
  var mul = binary(function () { return unary(); }, ['*', '/', '%']);
  var add = binary(mul, ['+', '-']);
  function mk2(l, r, f) { return function (x) { return f(l(x), r(x)); }; }
  function unary() {
    var t = peek();
    if (!t) throw new SyntaxError('JSONPath filter ' + JSON.stringify(src) + ': unexpected end');
    pos++;
    if (t.t === 'op' && t.v === '!') { var e = unary(); return function (x) { return !e(x); }; }
    if (t.t === 'op' && t.v === '-') { var neg = unary(); return function (x) { return -neg(x); }; }
    if (t.t === 'op' && t.v === '(') { var inner = or(); if (!isOp(')')) throw new SyntaxError('JSONPath filter: missing )'); pos++; return inner; }
    if (t.t === 'lit') { var v = t.v; return function () { return v; }; }
    if (t.t === 'path') {
      var segs = t.v === '@' ? [] : parsePath('$' + t.v.slice(1));
      return function (x) {
        var cur = x;
        for (var s = 0; s < segs.length; s++) {
          if (cur === null || cur === undefined) return undefined;
          var k = segs[s].sel.keys ? segs[s].sel.keys[0] : undefined;
          cur = cur[k];
        }
        return cur;
      };
    }
    throw new SyntaxError('JSONPath filter ' + JSON.stringify(src) + ': unexpected ' + t.v);
  }
  var fn = or();
  if (pos !== toks.length) throw new SyntaxError('JSONPath filter ' + JSON.stringify(src) + ': unexpected ' + toks[pos].v);
  return fn;
}

function children(v) {
  if (Array.isArray(v)) return v.slice();
  if (isObject(v)) return Object.keys(v).map(function (k) { return v[k]; });
  return [];
}

function applySel(v, sel, out) {
  if (v === null || v === undefined || typeof v !== 'object') {
    return;
  }
  if (sel.wild) {
    // children(v) pushed one by one, without the copy: holes skipped as
    // forEach skips them
    if (Array.isArray(v)) {
      for (var w = 0, n = v.length; w < n; w++) if (w in v) out.push(v[w]);
    } else {
      var ks = Object.keys(v);
      for (var q = 0; q < ks.length; q++) out.push(v[ks[q]]);
    }
    return;
  }
  if (sel.filter) {
    var keys = Array.isArray(v) ? v.map(function (_, i) { return i; }) : Object.keys(v);
    keys.forEach(function (k) {
      var ok;
      try { ok = sel.filter(v[k]); } catch (e) { ok = false; }
      if (ok) out.push(v[k]);
    });
    return;
  }
  if (sel.script) { var r = sel.script(v); if (r in Object(v)) out.push(v[r]); return; }
  if (sel.slice) {
    if (!Array.isArray(v)) return;
    var n = v.length, a = sel.slice[0], b = sel.slice[1], step = sel.slice[2] || 1;
    a = a === undefined ? 0 : (a < 0 ? Math.max(n + a, 0) : Math.min(a, n));
    b = b === undefined ? n : (b < 0 ? Math.max(n + b, 0) : Math.min(b, n));
    for (var i = a; i < b; i += step) out.push(v[i]);
    return;
  }
  sel.keys.forEach(function (k) {
    if (Array.isArray(v) && /^-?\d+$/.test(k)) {
      var idx = parseInt(k, 10);
      if (idx < 0) idx += v.length;
      if (idx >= 0 && idx < v.length) out.push(v[idx]);
      return;
    }
    if (Object.prototype.hasOwnProperty.call(v, k) || (Array.isArray(v) && k === 'length')) out.push(v[k]);
  });
}

function descendants(v, out) {
  out.push(v);
  if (isObject(v)) children(v).forEach(function (c) { descendants(c, out); });
}

// Parsed paths are kept per VM: dataValue('x') in an each() over thousands
// of items parses the same few paths again and again, and parsing
// character by character is most of such a job's time in goja. Segments are
// never mutated after parsing, so sharing them is safe; the cache is bounded.
var pathCache = Object.create(null), pathCacheSize = 0;
function parsePathCached(path) {
  if (typeof path === 'string') {
    var hit = pathCache[path];
    if (hit) return hit;
  }
  var segs = parsePath(path);
  segs.chain = keyChain(segs);
  segs.lead = segs.chain || keyChain(segs.slice(0, leadingKeys(segs)));
  if (typeof path === 'string' && pathCacheSize < 1000) { pathCache[path] = segs; pathCacheSize++; }
  return segs;
}

// keyChain: a path that is only single names or indices ($.data.orgUnit,
// $.items[0].id), the paths dataValue and each use, is a plain walk down
// the value: at most one match. The general matcher builds a match list
// and closures per segment, which was 64% of a DHIS2 dataValues mapping
// (4,620 items × 5 dataValue) in goja's profile. null for any other path.
function keyChain(segs) {
  var chain = [];
  for (var i = 0; i < segs.length; i++) {
    var sel = segs[i].sel;
    if (segs[i].desc || !sel.keys || sel.keys.length !== 1) return null;
    var k = sel.keys[0];
    chain.push({ k: k, num: /^-?\d+$/.test(k), idx: parseInt(k, 10) });
  }
  return chain;
}

function leadingKeys(segs) {
  var n = 0;
  while (n < segs.length && !segs[n].desc && segs[n].sel.keys && segs[n].sel.keys.length === 1) n++;
  return n;
}

// walkChain is applySel's key case applied segment by segment: the same
// checks in the same order (an index on an array, else an own property or
// an array's length), undefined where the general matcher has no match.
function walkChain(chain, v) {
  for (var i = 0; i < chain.length; i++) {
    if (v === null || typeof v !== 'object') return undefined;
    var c = chain[i];
    if (c.num && Array.isArray(v)) {
      var idx = c.idx < 0 ? c.idx + v.length : c.idx;
      if (!(idx >= 0 && idx < v.length)) return undefined;
      v = v[idx];
      continue;
    }
    // Object.hasOwn is hasOwnProperty.call without the call through call
    if (!(ownKey(v, c.k) || (c.k === 'length' && Array.isArray(v)))) return undefined;
    v = v[c.k];
  }
  return v;
}
var hasOwn = Object.prototype.hasOwnProperty, ownKey = Object.hasOwn;

// firstMatch is JSONPath(path, json)[0] without the list for a key chain.
function firstMatch(path, json) {
  var segs = parsePathCached(path);
  if (segs.chain) return walkChain(segs.chain, json);
  return JSONPath(path, json)[0];
}

// JSONPath(path, json) → all matches (possibly empty).
function JSONPath(path, json) {
  var segs = parsePathCached(path);
  // the leading names and indices are one walk: at most one value
  var v = walkChain(segs.lead, json);
  if (segs.chain) return v === undefined ? [] : [v];
  if (v === undefined) return [];
  var cur = [v];
  for (var s = segs.lead.length; s < segs.length; s++) {
    var next = [];
    var seg = segs[s];
    for (var i = 0; i < cur.length; i++) {
      if (seg.desc) {
        var all = [];
        descendants(cur[i], all);
        for (var j = 0; j < all.length; j++) applySel(all[j], seg.sel, next);
      } else applySel(cur[i], seg.sel, next);
    }
    cur = next;
    if (!cur.length) break;
  }
  // cur is a list made here: returned as it is when nothing is undefined
  for (var k = 0; k < cur.length; k++) {
    if (cur[k] === undefined) return cur.filter(function (x) { return x !== undefined; });
  }
  return cur;
}

function source(path) { return function (state) { return JSONPath(path, state); }; }
function sourceValue(path) { return function (state) { return firstMatch(path, state); }; }
function jsonValue(obj, path) { return firstMatch(path, obj); }
// 3.3.4: leading $ and . are stripped and the rest glued on, so
// referencePath('$[1].x') is '$.references[1].x' and referencePath('..y')
// '$.referencesy'; an empty or non-string path is a TypeError.
// Results are kept per VM like parsed paths: the regular expression was
// 16% of a dataValue-heavy each in goja's profile.
// The entry keeps dataPath's string too: dataValue('x') in an each built
// it again for every item.
var cleanCache = Object.create(null), cleanCacheSize = 0;
function cleaned(path) {
  if (typeof path === 'string') {
    var hit = cleanCache[path];
    if (hit) return hit;
  }
  var c = path.match(/^[\$\.]*(.+)/)[1];
  var e = { clean: c, data: '$.data.' + c };
  if (typeof path === 'string' && cleanCacheSize < 1000) { cleanCache[path] = e; cleanCacheSize++; }
  return e;
}
function cleanPath(path) { return cleaned(path).clean; }
function dataPath(path) { return cleaned(path).data; }
function dataValue(path) { return sourceValue(dataPath(path)); }
function referencePath(path) { return '$.references' + cleanPath(path); }
function lastReferenceValue(path) { return sourceValue('$.references[0].' + path); }

function asData(data, state) {
  switch (typeof data) {
    case 'string': return source(data)(state);
    case 'function': return data(state);
    default: return data;
  }
}

// ---- operations (§4.3) -----------------------------------------------------

// asyncOp turns an operation into what OpenFn's `async state => …`
// operations are: it runs now (our I/O is synchronous Go) but always hands
// back a Promise, and a throw becomes a rejection. Jobs rely on this when
// they call an operation directly: `post(url, body)(state).then(…)`,
// `.catch(e => …)`. Operations that are synchronous in OpenFn (fn, each,
// fnIf, combine of synchronous operations, …) stay synchronous, as there
// `.then` on their result is a TypeError too.
function asyncOp(op) {
  return function () {
    try {
      return Promise.resolve(op.apply(this, arguments));
    } catch (e) {
      return Promise.reject(e);
    }
  };
}

// execute chains the operations on a promise of the state, one then per
// operation: reduce's steps over the (dense) list, written as a loop, which
// spares every step of every run a callback.
function execute() {
  var ops = Array.prototype.slice.call(arguments);
  return function (state) {
    var p = Promise.resolve(state);
    for (var i = 0; i < ops.length; i++) p = p.then(ops[i]);
    return p;
  };
}

function fn(func) { return function (state) { return func(state); }; }

function fnIf(condition, operation) {
  return function (state) {
    var c = expandOne(condition, state);
    return c ? operation(state) : state;
  };
}

// each copies state per item with object spread, as 3.3.4 does
// ({ ...state, data, index }): an own "__proto__" key stays an own key
// (Object.assign would set the prototype), and goja's spread copies without
// the extra source object and [[Set]] calls, which were a third of the time
// of an each over 10k items.
//
// The reduce is written out as a loop for arrays (reduce's steps: the
// length read once, holes skipped): a native reduce calling back into goja
// for every item cost more than the item's own spread and operation.
var arrayReduce = Array.prototype.reduce;
function each(dataSource, operation) {
  if (!dataSource) throw new TypeError('dataSource argument for each operation is invalid.');
  // the promise case is its own function: a closure inside step would
  // make goja give every item's call a scope object for data and index
  function later(st, data, index) {
    return st.then(function (s) { return operation({ ...s, data: data, index: index }); });
  }
  function step(st, data, index) {
    if (st && typeof st.then === 'function') return later(st, data, index);
    return operation({ ...st, data: data, index: index });
  }
  return function (state) {
    var items = asData(dataSource, state);
    if (!Array.isArray(items) || items.reduce !== arrayReduce) return items.reduce(step, state);
    // step, inlined: one call fewer per item
    var st = state;
    for (var i = 0, n = items.length; i < n; i++) {
      if (!(i in items)) continue;
      if (st && typeof st.then === 'function') st = later(st, items[i], i);
      else st = operation({ ...st, data: items[i], index: i });
    }
    return st;
  };
}

var beta = {
  each: function (dataSource, operation) {
    var inner = each(dataSource, operation);
    return function (state) {
      var before = state.data;
      var next = inner(state);
      if (next && typeof next.then === 'function') {
        return next.then(function (s) { return { ...s, data: before }; });
      }
      return { ...next, data: before };
    };
  }
};

function combine() {
  var ops = Array.prototype.slice.call(arguments);
  if (ge(3, 3, 2)) {
    // synchronous while the operations are, chained once one returns a
    // promise (3.3.4's reduce)
    return function (state) {
      return ops.reduce(function (st, op) {
        if (st && typeof st.then === 'function') return st.then(function (s) { return op(Object.assign({}, s)); });
        return op(Object.assign({}, st));
      }, state);
    };
  }
  // Before 3.3.2 results were spread, so a Promise contributed nothing.
  return function (state) {
    return ops.reduce(function (s, op) { return Object.assign({}, s, op(s)); }, state);
  };
}

function map3(path, callback) {
  return asyncOp(function (state) {
    var items = typeof path === 'string' ? source(path)(state) : expandOne(path, state);
    if (items && !Array.isArray(items) && isObject(items)) items = Object.keys(items).map(function (k) { return items[k]; });
    items = items || [];
    var results = [];
    var p = Promise.resolve();
    items.forEach(function (item, i) {
      p = p.then(function () { return callback(item, i, state); }).then(function (r) { results.push(r); });
    });
    return p.then(function () { return Object.assign({}, state, { data: results }); });
  });
}

function map1(path, operation, state) {
  if (arguments.length < 3) return function (s) { return map1(path, operation, s); };
  source(path)(state).forEach(function (item) { operation({ data: item, references: state.references }); });
  return state;
}

function field(key, value) { return [key, value]; }
function fields() {
  var out = {};
  Array.prototype.slice.call(arguments).forEach(function (p) { out[p[0]] = p[1]; });
  return out;
}

function merge(dataSource, fieldsObj) {
  return function (state) {
    var initial = source(dataSource)(state);
    var extra = expandOne(fieldsObj, state);
    return initial.map(function (item) { return Object.assign({}, item, extra); });
  };
}

function join(targetPath, sourcePath, targetKey) {
  return function (state) {
    return source(targetPath)(state).map(function (i) {
      var o = {};
      o[targetKey] = sourceValue(sourcePath)(state);
      return Object.assign(o, i);
    });
  };
}

function index() { return function (state) { return state.index; }; }

// composeNextState is Object.assign({}, state, {data: response, references:
// state.references.concat([state.data])}) without the object literal: the
// references are computed first, as the literal was, then state copied and
// the two keys set ([[Set]], as Object.assign does), in the literal's order.
function composeNextState(state, response) {
  if (ge(1, 15, 0) && !state.references) state.references = [];
  var references = state.references.concat([state.data]);
  var next = Object.assign({}, state);
  next.data = response;
  next.references = references;
  return next;
}

function arrayToString(arr, separator) { return Array.apply(null, arr).join(separator); }
function toArray(arg) { return [].concat(arg); }
function humanProper(str) {
  if (typeof str !== 'string') return str;
  return str.replace(/[_-]/g, ' ').replace(/\w\S*/g, function (t) { return t.charAt(0).toUpperCase() + t.substr(1).toLowerCase(); });
}
function splitKeys(obj, keys) {
  return [_.omit(obj, keys), _.pick(obj, keys)];
}
function scrubEmojis(text, replacementChars) {
  if (!text) return text;
  if (replacementChars === undefined) replacementChars = '\uFFFD';
  if (replacementChars === '') console.warn('Removing characters from string with scrubEmojis: this may lose data');
  var re = /(\uFE0F|\u00A9|\u00AE|[\u2000-\u3300]|\ud83c[\ud000-\udfff]|\ud83d[\ud000-\udfff]|\ud83e[\ud000-\udfff])/g;
  return text.replace(re, replacementChars);
}
function chunk(array, chunkSize) {
  var out = [];
  for (var i = 0; i < array.length; i += chunkSize) out.push(array.slice(i, i + chunkSize));
  return out;
}

function group(arrayOfObjects, keyPath, callback) {
  callback = callback || function (s) { return s; };
  return function (state) {
    var items = expandOne(arrayOfObjects, state);
    var path = expandOne(keyPath, state);
    var groups = _.groupBy(items, function (item) { return _.get(item, path); });
    delete groups['undefined'];
    return callback(Object.assign({}, state, { data: groups }));
  };
}

// ---- CSV (RFC 4180 with csv-parse's option names) ----------------------------

function parseCsvText(text, o) {
  var rows = [], row = [], cell = '', inQ = false, quotedCell = false, i = 0;
  var d = o.delimiter, q = o.quote, esc = o.escape;
  if (o.bom && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  function endCell() {
    var v = cell;
    if (!quotedCell) {
      if (o.trim || o.ltrim) v = v.replace(/^\s+/, '');
      if (o.trim || o.rtrim) v = v.replace(/\s+$/, '');
    }
    row.push(v);
    cell = ''; quotedCell = false;
  }
  function endRow() {
    endCell();
    rows.push(row);
    row = [];
  }
  while (i < text.length) {
    var c = text[i];
    if (inQ) {
      if (c === esc && text[i + 1] === q) { cell += q; i += 2; continue; }
      if (c === q) { inQ = false; i++; continue; }
      cell += c; i++;
      continue;
    }
    if (c === q && cell.trim() === '') { inQ = true; quotedCell = true; cell = ''; i++; continue; }
    // whitespace after a closing quote is trimmed like csv-parse's rtrim
    if (quotedCell && (o.trim || o.rtrim) && (c === ' ' || c === '\t')) { i++; continue; }
    if (text.substr(i, d.length) === d) { endCell(); i += d.length; continue; }
    if (c === '\r' && text[i + 1] === '\n') { endRow(); i += 2; continue; }
    if (c === '\n' || c === '\r') { endRow(); i++; continue; }
    cell += c; i++;
  }
  if (inQ) throw new Error('parseCsv: quoted field not terminated at end of input');
  if (cell !== '' || row.length) endRow();
  if (o.skip_empty_lines) rows = rows.filter(function (r) { return !(r.length === 1 && r[0] === ''); });
  if (o.columns === false || o.columns === undefined || o.columns === null) return rows;
  var header = Array.isArray(o.columns) ? o.columns : rows.shift() || [];
  return rows.map(function (r, n) {
    if (r.length !== header.length) {
      throw new Error('parseCsv: row ' + (n + 2) + ' has ' + r.length + ' fields, header has ' + header.length);
    }
    var obj = {};
    header.forEach(function (h, k) { obj[h] = r[k]; });
    return obj;
  });
}

function parseCsv(csvData, parsingOptions, callback) {
  return asyncOp(function (state) {
    var data = expandOne(csvData, state);
    if (typeof data !== 'string') throw new TypeError('parseCsv: csvData must be a string (streams are not supported)');
    var o = Object.assign({ delimiter: ',', quote: '"', escape: '"', columns: true, bom: true, trim: true, ltrim: true,
      rtrim: true, chunkSize: Infinity, skip_empty_lines: true }, expandOne(parsingOptions || {}, state));
    var rows = parseCsvText(data, o);
    if (!callback) return composeNextState(state, rows);
    var size = o.chunkSize > 0 ? o.chunkSize : Infinity;
    var p = Promise.resolve(state);
    for (var i = 0; i < rows.length || (i === 0 && rows.length === 0); i += (size === Infinity ? rows.length || 1 : size)) {
      (function (part) { p = p.then(function (s) { return callback(s, part); }); })(size === Infinity ? rows : rows.slice(i, i + size));
      if (size === Infinity) break;
    }
    return p;
  });
}

// ---- validate: a documented JSON-schema subset ---------------------------------
// Supported keywords: type (incl. arrays of types, "integer"), required,
// properties, items (single schema), enum, const, minLength, maxLength,
// minimum, maximum, additionalProperties: false. Others are ignored.

function typeOf(v) {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function validateSchema(schema, data, path, errs) {
  if (!isObject(schema)) return;
  if (schema.type) {
    var types = [].concat(schema.type), t = typeOf(data);
    var ok = types.some(function (ty) { return ty === t || (ty === 'number' && t === 'integer'); });
    if (!ok) { errs.push({ instancePath: path, schemaPath: '#/type', keyword: 'type', params: { type: schema.type }, message: 'must be ' + types.join(',') }); return; }
  }
  if (schema.enum && !schema.enum.some(function (e) { return JSON.stringify(e) === JSON.stringify(data); })) {
    errs.push({ instancePath: path, schemaPath: '#/enum', keyword: 'enum', params: { allowedValues: schema.enum }, message: 'must be equal to one of the allowed values' });
  }
  if ('const' in schema && JSON.stringify(schema.const) !== JSON.stringify(data)) {
    errs.push({ instancePath: path, schemaPath: '#/const', keyword: 'const', params: { allowedValue: schema.const }, message: 'must be equal to constant' });
  }
  if (typeof data === 'string') {
    if (schema.minLength !== undefined && data.length < schema.minLength) errs.push({ instancePath: path, schemaPath: '#/minLength', keyword: 'minLength', params: { limit: schema.minLength }, message: 'must NOT have fewer than ' + schema.minLength + ' characters' });
    if (schema.maxLength !== undefined && data.length > schema.maxLength) errs.push({ instancePath: path, schemaPath: '#/maxLength', keyword: 'maxLength', params: { limit: schema.maxLength }, message: 'must NOT have more than ' + schema.maxLength + ' characters' });
  }
  if (typeof data === 'number') {
    if (schema.minimum !== undefined && data < schema.minimum) errs.push({ instancePath: path, schemaPath: '#/minimum', keyword: 'minimum', params: { comparison: '>=', limit: schema.minimum }, message: 'must be >= ' + schema.minimum });
    if (schema.maximum !== undefined && data > schema.maximum) errs.push({ instancePath: path, schemaPath: '#/maximum', keyword: 'maximum', params: { comparison: '<=', limit: schema.maximum }, message: 'must be <= ' + schema.maximum });
  }
  if (isObject(data) && !Array.isArray(data)) {
    (schema.required || []).forEach(function (k) {
      if (!(k in data)) errs.push({ instancePath: path, schemaPath: '#/required', keyword: 'required', params: { missingProperty: k }, message: "must have required property '" + k + "'" });
    });
    var props = schema.properties || {};
    Object.keys(props).forEach(function (k) { if (k in data) validateSchema(props[k], data[k], path + '/' + k, errs); });
    if (schema.additionalProperties === false) {
      Object.keys(data).forEach(function (k) {
        if (!(k in props)) errs.push({ instancePath: path, schemaPath: '#/additionalProperties', keyword: 'additionalProperties', params: { additionalProperty: k }, message: 'must NOT have additional properties' });
      });
    }
  }
  if (Array.isArray(data) && isObject(schema.items)) {
    data.forEach(function (item, i) { validateSchema(schema.items, item, path + '/' + i, errs); });
  }
}

function validate(schema, data) {
  if (schema === undefined) schema = 'schema';
  if (data === undefined) data = 'data';
  function resolve(x, state) {
    x = expandOne(x, state);
    if (typeof x !== 'string') return x;
    if (/^https?:\/\//.test(x)) throw new Error('validate: schemas from URLs are not supported by Job Mediator; put the schema in state');
    if (x[0] === '$') return sourceValue(x)(state);
    return state[x];
  }
  return asyncOp(function (state) {
    // 3.3.4 creates the list before validating, so a valid input still
    // leaves validationErrors: [] on state
    if (!state.validationErrors) state.validationErrors = [];
    var s = resolve(schema, state), d = resolve(data, state);
    var errs = [];
    validateSchema(s, d, '', errs);
    if (errs.length) state.validationErrors.push({ data: state.data, errors: errs });
    return state;
  });
}

// ---- cursor and dates (§4.3) ----------------------------------------------------

// cursor's module-level state (start time, key) lives in the run's Values,
// so it persists across calls within a run, like a fresh worker's module,
// but never leaks from one run to the next on a pooled VM.
function runGet(k, def) { var v = host.getRunValue(k); return v === undefined || v === null ? def : v; }
function now() { return new Date(host.now()); }

function parseDate(d, startDate) {
  if (typeof d !== 'string') return d;
  var t = d.trim().toLowerCase(), n = now(), m;
  if (t === 'start') return startDate || n;
  if (t === 'now' || t === 'end') return n;
  if (t === 'today') { n.setHours(0, 0, 0, 0); return n; }
  if (t === 'yesterday') { n.setDate(n.getDate() - 1); n.setHours(0, 0, 0, 0); return n; }
  if ((m = /^(\d+)\s+hours?\s+ago$/.exec(t))) return new Date(n.getTime() - parseInt(m[1], 10) * 3600e3);
  if ((m = /^(\d+)\s+days?\s+ago$/.exec(t))) { n.setDate(n.getDate() - parseInt(m[1], 10)); n.setHours(0, 0, 0, 0); return n; }
  return d;
}

function cursor(value, options) {
  options = options || {};
  if (runGet('cursor.start', null) === null) host.setRunValue('cursor.start', host.now());
  return function (state) {
    // format is a function of the date, not a reference: keep it out of expansion
    var o = expandOne(Object.assign({}, options, { format: undefined }), state);
    if (o.key) host.setRunValue('cursor.key', o.key);
    var cursorKey = runGet('cursor.key', 'cursor');
    var v = expandOne(value, state);
    if (v === undefined || v === null) v = o.defaultValue;
    var parsed = parseDate(v, new Date(runGet('cursor.start', host.now())));
    if (parsed instanceof Date) {
      parsed = typeof options.format === 'function' ? options.format(parsed) : parsed.toISOString();
    }
    state[cursorKey] = parsed;
    console.log('Setting cursor "' + cursorKey + '" to: ' + (typeof parsed === 'string' ? parsed : JSON.stringify(parsed)));
    return state;
  };
}

function assert(expression, errorMessage) {
  return function (state) {
    var r = expandOne(expression, state);
    if (!r) throw new Error(errorMessage || 'assertion statement failed with ' + r);
    return state;
  };
}

function log() {
  var args = Array.prototype.slice.call(arguments);
  return function (state) { console.log.apply(console, expandOne(args, state)); return state; };
}
function debug() {
  var args = Array.prototype.slice.call(arguments);
  return function (state) { console.debug.apply(console, expandOne(args, state)); return state; };
}

function as(key, operation) {
  return asyncOp(function (state) {
    return Promise.resolve(operation(state)).then(function (res) {
      var out = Object.assign({}, state, res);
      out[key] = res ? res.data : undefined;
      out.data = state.data;
      return out;
    });
  });
}

// ---- lodash subset (documented: get set groupBy isEmpty uniq pick omit chunk
// flatten keyBy mapValues merge cloneDeep sortBy uniqBy compact has isNil
// isArray isString isObject keys values find filter map sum sumBy) ---------------

function toPath(p) {
  if (Array.isArray(p)) return p;
  var out = [];
  String(p).replace(/[^.[\]]+|\[(?:(-?\d+)|(["'])((?:(?!\2)[^\\]|\\.)*?)\2)\]/g, function (m, num, q, str) {
    out.push(q ? str : (num !== undefined ? num : m));
  });
  return out;
}
function iteratee(f) {
  if (typeof f === 'function') return f;
  if (f === undefined || f === null) return function (x) { return x; };
  return function (x) { return _.get(x, f); };
}
var _ = {
  get: function (obj, path, def) {
    var parts = toPath(path), cur = obj;
    for (var i = 0; i < parts.length; i++) {
      if (cur === null || cur === undefined) return def;
      cur = cur[parts[i]];
    }
    return cur === undefined ? def : cur;
  },
  set: function (obj, path, value) {
    if (!isObject(obj)) return obj;
    var parts = toPath(path), cur = obj;
    for (var i = 0; i < parts.length - 1; i++) {
      if (!isObject(cur[parts[i]])) cur[parts[i]] = /^\d+$/.test(parts[i + 1]) ? [] : {};
      cur = cur[parts[i]];
    }
    cur[parts[parts.length - 1]] = value;
    return obj;
  },
  groupBy: function (coll, f) {
    var it = iteratee(f), out = {};
    children(coll).forEach(function (x) {
      var k = it(x);
      (out[k] = out[k] || []).push(x);
    });
    return out;
  },
  isEmpty: function (v) {
    if (v === null || v === undefined) return true;
    if (typeof v === 'string' || Array.isArray(v)) return v.length === 0;
    if (v instanceof Map || v instanceof Set) return v.size === 0;
    if (typeof v === 'object') return Object.keys(v).length === 0;
    return true;
  },
  uniq: function (arr) {
    var seen = new Set(), out = [];
    (arr || []).forEach(function (x) { if (!seen.has(x)) { seen.add(x); out.push(x); } });
    return out;
  },
  pick: function (obj) {
    var keys = [].concat.apply([], Array.prototype.slice.call(arguments, 1)), out = {};
    if (obj === null || obj === undefined) return out;
    keys.forEach(function (k) { var v = _.get(obj, k); if (v !== undefined || (k in Object(obj))) _.set(out, k, v); });
    return out;
  },
  omit: function (obj) {
    var keys = [].concat.apply([], Array.prototype.slice.call(arguments, 1)), out = {};
    if (obj === null || obj === undefined) return out;
    Object.keys(obj).forEach(function (k) { if (keys.indexOf(k) < 0) out[k] = obj[k]; });
    return out;
  },
  chunk: function (arr, size) { return chunk(arr || [], Math.max(size === undefined ? 1 : size, 1)); },
  flatten: function (arr) { return [].concat.apply([], arr || []); },
  keyBy: function (coll, f) {
    var it = iteratee(f), out = {};
    children(coll).forEach(function (x) { out[it(x)] = x; });
    return out;
  },
  mapValues: function (obj, f) {
    var it = iteratee(f), out = {};
    Object.keys(obj || {}).forEach(function (k) { out[k] = it(obj[k], k, obj); });
    return out;
  },
  merge: function (target) {
    Array.prototype.slice.call(arguments, 1).forEach(function (src) {
      if (!isObject(src)) return;
      Object.keys(src).forEach(function (k) {
        var sv = src[k], tv = target[k];
        if (isObject(sv) && !(sv instanceof Date)) {
          if (!isObject(tv)) tv = target[k] = Array.isArray(sv) ? [] : {};
          _.merge(tv, sv);
        } else if (sv !== undefined || !(k in target)) target[k] = sv;
      });
    });
    return target;
  },
  sortBy: function (coll) {
    var its = [].concat.apply([], Array.prototype.slice.call(arguments, 1)).map(iteratee);
    if (!its.length) its = [iteratee()];
    return children(coll).map(function (v, i) { return { v: v, i: i }; }).sort(function (a, b) {
      for (var k = 0; k < its.length; k++) {
        var x = its[k](a.v), y = its[k](b.v);
        if (x !== y) {
          if (x === undefined) return 1;
          if (y === undefined) return -1;
          return x < y ? -1 : 1;
        }
      }
      return a.i - b.i;
    }).map(function (e) { return e.v; });
  },
  uniqBy: function (arr, f) {
    var it = iteratee(f), seen = new Set(), out = [];
    (arr || []).forEach(function (x) { var k = it(x); if (!seen.has(k)) { seen.add(k); out.push(x); } });
    return out;
  },
  compact: function (arr) { return (arr || []).filter(Boolean); },
  has: function (obj, path) {
    var parts = toPath(path), cur = obj;
    for (var i = 0; i < parts.length; i++) {
      if (!isObject(cur) || !Object.prototype.hasOwnProperty.call(cur, parts[i])) return false;
      cur = cur[parts[i]];
    }
    return parts.length > 0;
  },
  isNil: function (v) { return v === null || v === undefined; },
  isArray: Array.isArray,
  isString: function (v) { return typeof v === 'string'; },
  isObject: function (v) { return v !== null && (typeof v === 'object' || typeof v === 'function'); },
  keys: function (o) { return o === null || o === undefined ? [] : Object.keys(o); },
  values: function (o) { return children(o); },
  find: function (coll, f) { var it = iteratee(f); return children(coll).find(function (x) { return it(x); }); },
  filter: function (coll, f) { var it = iteratee(f); return children(coll).filter(function (x) { return it(x); }); },
  map: function (coll, f) { var it = iteratee(f); return children(coll).map(function (x, i) { return it(x, i); }); },
  sum: function (arr) { return (arr || []).reduce(function (a, b) { return a + b; }, 0); },
  sumBy: function (arr, f) { var it = iteratee(f); return (arr || []).reduce(function (a, b) { return a + it(b); }, 0); },
  cloneDeep: function cloneDeep(v) {
    if (v instanceof Date) return new Date(v.getTime());
    if (Array.isArray(v)) return v.map(cloneDeep);
    if (isObject(v)) { var o = {}; Object.keys(v).forEach(function (k) { o[k] = cloneDeep(v[k]); }); return o; }
    return v;
  }
};

// ---- dateFns {parse, format}: tokens yyyy yy MM M dd d HH H hh h mm m ss s SSS
// a (AM/PM) and 'quoted literals'; local time; no locales. ------------------------

var dateTokenRe = /'([^']*)'|yyyy|yy|MM|M|dd|d|HH|H|hh|h|mm|m|ss|s|SSS|a/g;
function pad(n, w) { n = String(n); while (n.length < w) n = '0' + n; return n; }
var dateFns = {
  format: function (date, fmt) {
    var d = date instanceof Date ? date : new Date(date);
    if (isNaN(d.getTime())) throw new RangeError('Invalid time value');
    return fmt.replace(dateTokenRe, function (tok, lit) {
      if (lit !== undefined) return lit;
      switch (tok) {
        case 'yyyy': return pad(d.getFullYear(), 4);
        case 'yy': return pad(d.getFullYear() % 100, 2);
        case 'MM': return pad(d.getMonth() + 1, 2);
        case 'M': return String(d.getMonth() + 1);
        case 'dd': return pad(d.getDate(), 2);
        case 'd': return String(d.getDate());
        case 'HH': return pad(d.getHours(), 2);
        case 'H': return String(d.getHours());
        case 'hh': return pad(d.getHours() % 12 || 12, 2);
        case 'h': return String(d.getHours() % 12 || 12);
        case 'mm': return pad(d.getMinutes(), 2);
        case 'm': return String(d.getMinutes());
        case 'ss': return pad(d.getSeconds(), 2);
        case 's': return String(d.getSeconds());
        case 'SSS': return pad(d.getMilliseconds(), 3);
        case 'a': return d.getHours() < 12 ? 'AM' : 'PM';
      }
      return tok;
    });
  },
  parse: function (str, fmt, ref) {
    var parts = { y: ref ? new Date(ref).getFullYear() : 1970, M: 1, d: 1, H: 0, m: 0, s: 0, S: 0, pm: null };
    var re = '', fields = [];
    var last = 0, mm;
    dateTokenRe.lastIndex = 0;
    while ((mm = dateTokenRe.exec(fmt))) {
      re += fmt.slice(last, mm.index).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      last = dateTokenRe.lastIndex;
      if (mm[1] !== undefined) { re += mm[1].replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); continue; }
      var t = mm[0];
      re += t === 'a' ? '(AM|PM|am|pm)' : t === 'yyyy' ? '(\\d{4})' : t === 'SSS' ? '(\\d{3})' : t.length === 2 ? '(\\d{2})' : '(\\d{1,2})';
      fields.push(t);
    }
    re += fmt.slice(last).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    var match = new RegExp('^' + re + '$').exec(str);
    if (!match) return new Date(NaN);
    fields.forEach(function (f, i) {
      var v = match[i + 1];
      switch (f) {
        case 'yyyy': parts.y = +v; break;
        case 'yy': parts.y = 2000 + +v; break;
        case 'MM': case 'M': parts.M = +v; break;
        case 'dd': case 'd': parts.d = +v; break;
        case 'HH': case 'H': case 'hh': case 'h': parts.H = +v; break;
        case 'mm': case 'm': parts.m = +v; break;
        case 'ss': case 's': parts.s = +v; break;
        case 'SSS': parts.S = +v; break;
        case 'a': parts.pm = /pm/i.test(v); break;
      }
    });
    if (parts.pm !== null) parts.H = (parts.H % 12) + (parts.pm ? 12 : 0);
    return new Date(parts.y, parts.M - 1, parts.d, parts.H, parts.m, parts.s, parts.S);
  }
};

var util = {
  // expandReferences(state, ...values): each value as expandOne expands
  // it, in order, into a new array (natively: adaptors/common/expand.go).
  expandReferences: host.expandAll(expandJS, keepSpecial),
  encode: function (data) {
    return host.b64encode(typeof data === 'string' ? data : JSON.stringify(data));
  },
  decode: function (b64, options) {
    var s = host.b64decode(b64);
    if (options && options.parseJson === false) return s;
    var t = s.trim();
    if (t[0] === '{' || t[0] === '[') { try { return JSON.parse(s); } catch (e) { return s; } }
    return s;
  },
  uuid: function () { return host.uuid(); },
  parseDate: parseDate
};

// ---- http namespace (2.0+): src/util/http.js request + src/http.js --------------
// request(method, url, {baseUrl, headers, query, body, errors, parseAs,
// timeout}): an absolute URL (same origin as baseUrl, when given) or a path
// joined to baseUrl; headers as given (no default content type: the
// options() helpers set them); objects sent as JSON; status ≥400 (or as the
// errors map says) throws "<METHOD> to <url> returned <code>: <reason>".
// Answers {url, method, statusCode, statusMessage, headers, body, duration,
// query?}. TLS options and maxRedirections are not applied here (language-
// http has them).
function originOf(u) { var m = /^(https?:\/\/[^/?#]+)/i.exec(u); return m ? m[1].toLowerCase() : ''; }
function httpRequest(method, urlOrPath, options) {
  var o = options || {};
  var url = urlOrPath === undefined || urlOrPath === null ? '' : String(urlOrPath);
  if (/https?:\/\//.test(url)) {
    if (o.baseUrl && originOf(url) !== originOf(o.baseUrl)) {
      var em = new Error('Target origin does not match baseUrl origin');
      em.code = 'BASE_URL_MISMATCH';
      em.target = url;
      em.baseUrl = o.baseUrl;
      throw em;
    }
  } else if (o.baseUrl) {
    var base = String(o.baseUrl), origin = originOf(base), bpath = base.slice(origin.length) || '/';
    var parts = (bpath + '/' + url).split('/'), out = [];
    parts.forEach(function (p) { if (p === '' || p === '.') return; if (p === '..') out.pop(); else out.push(p); });
    url = origin + '/' + out.join('/') + (/\/$/.test(url) ? '/' : '');
  } else {
    throw new TypeError('Invalid URL');
  }
  var q = Object.assign({}, o.query || {});
  var qi = url.indexOf('?');
  if (qi >= 0) {
    url.slice(qi + 1).split('&').forEach(function (kv) {
      if (!kv) return;
      var i = kv.indexOf('=');
      q[decodeURIComponent((i < 0 ? kv : kv.slice(0, i)).replace(/\+/g, ' '))] = decodeURIComponent((i < 0 ? '' : kv.slice(i + 1)).replace(/\+/g, ' '));
    });
    url = url.slice(0, qi);
  }
  var qs = Object.keys(q).map(function (k) { return encodeURIComponent(k) + '=' + encodeURIComponent(q[k]); }).join('&');
  var body = o.body;
  if (!body) body = undefined;
  else if (typeof body === 'object' && !isBufferLike(body)) body = JSON.stringify(body);
  else if (isBufferLike(body)) body = body.toString('binary');
  var full = url + (qs ? '?' + qs : '');
  var res = host.request({ method: method, url: full, headers: o.headers || {}, body: body, timeout: o.timeout });
  var errs = o.errors === undefined ? {} : o.errors;
  if (errs !== false) {
    var mapped = errs[res.status];
    var isErr = typeof mapped === 'boolean' ? mapped : (mapped || res.status >= 400);
    if (isErr) {
      var e = new Error(typeof mapped === 'string' ? mapped : method + ' to ' + url + ' returned ' + res.status + ': ' + res.statusText);
      e.statusCode = res.status; e.statusMessage = res.statusText; e.url = url; e.duration = res.duration;
      e.method = method; e.body = parseHttpBody(res, 'auto'); e.headers = res.headers;
      throw e;
    }
  }
  var response = { url: url, method: method, statusCode: res.status, statusMessage: res.statusText, headers: res.headers,
    body: parseHttpBody(res, o.parseAs || 'auto'), duration: res.duration };
  if (Object.keys(q).length) response.query = q;
  return response;
}
function parseHttpBody(res, parseAs) {
  var ct = res.headers['content-type'];
  if (res.headers['content-length'] === '0' || !ct || res.status === 204 || res.body === '') return undefined;
  switch (parseAs) {
    case 'json': return JSON.parse(res.body);
    case 'text': return res.body;
    case 'base64': return host.b64encode(res.body);
    case 'stream': throw new Error('parseAs: "stream" is not supported by Job Mediator');
  }
  return String(ct).indexOf('application/json') >= 0 ? JSON.parse(res.body) : res.body;
}
var httpHelpers = {
  json: function () { _.set(this, 'headers.Content-Type', 'application/json'); return this; },
  basic: function (username, password) { _.set(this, 'headers.Authorization', 'Basic ' + host.b64encode(username + ':' + password)); return this; },
  bearer: function (token) { _.set(this, 'headers.Authorization', 'Bearer ' + token); return this; },
  oauth: function (token) { _.set(this, 'headers.Authorization', 'Bearer ' + token); return this; }
};
function httpOptions(opts) {
  if (opts === undefined) opts = {};
  Object.keys(httpHelpers).forEach(function (h) { Object.defineProperty(opts, h, { enumerable: false, value: httpHelpers[h] }); });
  return opts;
}
function httpOp(method, url, options) {
  return asyncOp(function (state) {
    var a = util.expandReferences(state, method, url, options);
    var r = httpRequest(a[0], a[1], a[2]);
    var body = r.body;
    delete r.body;
    return Object.assign({}, state, { response: r, data: body });
  });
}
var http = {
  request: httpOp,
  get: function (url, options) { return httpOp('GET', url, options); },
  post: function (url, data, options) { return httpOp('POST', url, Object.assign({ body: data }, options)); },
  options: httpOptions
};

// ---- http (1.x): src/http.js, later http.deprecated.js ---------------------
// Each operation calls axios with {method, ...params} and resolves to the
// axios response itself (not a state): jobs use it as
// http.post({url, data})(state).then(({ data }) => …). params are expanded
// wholly up to 1.2.4; from 1.2.5 only agentOptions, body, (json,) data,
// form, formData, headers, options, params and url are, so functions such
// as transformResponse and validateStatus stay functions. axios 0.21 up to
// 1.7.3, 1.1.3 from 1.7.5.
// axios as used: baseURL joined to a relative url, params serialised
// (key[]=v for arrays, JSON for objects), data as JSON (Content-Type
// application/json, with ;charset=utf-8 before axios 1), auth → Basic,
// timeout, validateStatus (default 2xx), transformResponse; the reply
// body parsed as JSON when it is JSON. A status that fails is
// Error("Request failed with status code N") with response and config
// (and code ERR_BAD_REQUEST / ERR_BAD_RESPONSE from axios 1). The response
// is {data, status, statusText, headers, config: {method, url, params,
// headers, data}, request: {}}; agentOptions (TLS), proxies, streams and
// responseType other than JSON/text are not applied.
var AXIOS1 = ge(1, 7, 5);
var SPLIT_REQUEST_KEYS = ge(1, 2, 5);
var axiosExpandKeys = ['agentOptions', 'body', 'json', 'data', 'form', 'formData', 'headers', 'options', 'params', 'url'];
function axiosParams(params) {
  var pairs = [];
  Object.keys(params || {}).forEach(function (k) {
    var v = params[k];
    if (v === null || v === undefined) return;
    var key = k, vals = v;
    if (Array.isArray(v)) key = k + '[]'; else vals = [v];
    vals.forEach(function (x) {
      if (x instanceof Date) x = x.toISOString();
      else if (isObject(x)) x = JSON.stringify(x);
      pairs.push(encodeURIComponent(key).replace(/%5B/g, '[').replace(/%5D/g, ']') + '=' + encodeURIComponent(String(x)).replace(/%20/g, '+'));
    });
  });
  return pairs;
}
function axiosExpand(requestParams, state) {
  if (!SPLIT_REQUEST_KEYS) return expandOne(requestParams, state);
  var parts = splitKeys(requestParams || {}, axiosExpandKeys);
  return Object.assign({}, parts[0], expandOne(parts[1], state));
}
function axiosRequest(config) {
  var c = Object.assign({}, config);
  var method = String(c.method || 'get').toLowerCase();
  var url = String(c.url === undefined ? '' : c.url);
  if (c.baseURL && !/^([a-z][a-z\d+\-.]*:)?\/\//i.test(url)) {
    url = url ? String(c.baseURL).replace(/\/+$/, '') + '/' + url.replace(/^\/+/, '') : String(c.baseURL);
  }
  var q = axiosParams(c.params);
  if (q.length) url += (url.indexOf('?') >= 0 ? '&' : '?') + q.join('&');
  var headers = Object.assign({ Accept: 'application/json, text/plain, */*' }, c.headers || {});
  var has = function (n) { return Object.keys(headers).some(function (k) { return k.toLowerCase() === n; }); };
  var body = c.data;
  if (body !== undefined && body !== null && typeof body !== 'string') {
    body = JSON.stringify(body);
    if (!has('content-type')) headers['Content-Type'] = AXIOS1 ? 'application/json' : 'application/json;charset=utf-8';
  } else if (typeof body === 'string' && !has('content-type')) {
    headers['Content-Type'] = 'application/x-www-form-urlencoded';
  }
  if (body === null) body = undefined;
  if (c.auth) headers.Authorization = 'Basic ' + util.encode(String(c.auth.username || '') + ':' + String(c.auth.password || ''));
  var res = host.request({ method: method.toUpperCase(), url: url, headers: headers, body: body, timeout: c.timeout });
  var data = res.body;
  if (c.transformResponse) {
    [].concat(c.transformResponse).forEach(function (f) { if (typeof f === 'function') data = f(data, res.headers); });
  } else if (typeof data === 'string' && data !== '') {
    try { data = JSON.parse(data); } catch (e) { /* text stays */ }
  }
  var safe = Object.assign({}, headers);
  delete safe.Authorization;
  var response = { data: data, status: res.status, statusText: res.statusText, headers: res.headers,
    config: { method: method, url: url, params: c.params, headers: safe, data: body }, request: {} };
  // axios settles with `!validateStatus || validateStatus(status)`: a
  // validateStatus given as false/null (or made a value by the whole
  // expansion before 1.2.5) accepts every status
  var ok = !('validateStatus' in c) || c.validateStatus === undefined ? (res.status >= 200 && res.status < 300)
    : (typeof c.validateStatus === 'function' ? c.validateStatus(res.status) : !c.validateStatus);
  if (!ok) {
    var err = new Error('Request failed with status code ' + res.status);
    err.response = response;
    err.config = response.config;
    err.isAxiosError = true;
    if (AXIOS1) err.code = res.status >= 500 ? 'ERR_BAD_RESPONSE' : 'ERR_BAD_REQUEST';
    throw err;
  }
  return response;
}
function axiosOp(method) {
  return function (requestParams) {
    return asyncOp(function (state) {
      return axiosRequest(Object.assign({ method: method }, axiosExpand(requestParams, state)));
    });
  };
}
var http1 = {
  get: axiosOp('get'), post: axiosOp('post'), put: axiosOp('put'), patch: axiosOp('patch'),
  head: axiosOp('head'), options: axiosOp('options'), delete: axiosOp('delete'),
  axios: function (config) { return asyncOp(axiosRequest)(config); },
  expandRequestReferences: function (params) { return function (state) { return axiosExpand(params, state); }; }
};

Object.assign(exports, {
  execute: execute, fn: fn, alterState: fn, fnIf: fnIf, each: each, beta: beta, combine: combine,
  map: ge(3, 0, 0) ? map3 : map1,
  field: field, fields: fields, merge: merge, dataPath: dataPath, dataValue: dataValue,
  sourceValue: sourceValue, source: source, jsonValue: jsonValue, referencePath: referencePath,
  lastReferenceValue: lastReferenceValue, join: join, index: index, asData: asData,
  composeNextState: composeNextState, expandReferences: expandReferences,
  arrayToString: arrayToString, toArray: toArray, humanProper: humanProper, splitKeys: splitKeys,
  scrubEmojis: scrubEmojis, chunk: chunk, group: group, parseCsv: parseCsv, validate: validate,
  cursor: cursor, assert: assert, log: log, debug: debug, as: as, _: _, dateFns: dateFns, util: util,
  JSONPath: JSONPath
});
if (ge(2, 0, 0)) exports.http = http; // 2.0.1 has it as 2.1.1 does (2.0.0-rc3 still had the axios module)
else if (V.major === 1) exports.http = http1;
// For the other adaptors (`common.asyncOp`), not a job global: it is not
// enumerable, so neither the runtime nor re-exports copy it.
Object.defineProperty(exports, 'asyncOp', { value: asyncOp, enumerable: false });
// language-http ≤5 serialises axios params the same way.
Object.defineProperty(exports, 'axiosParams', { value: axiosParams, enumerable: false });
