package runtime

import "github.com/dop251/goja"

// helpersJS runs once per VM, before any adaptor. It defines the runtime's
// own helpers as globals with a __ prefix (jobs never use that prefix), so
// the per-step driver is plain JavaScript and promise handling stays inside
// goja.
const helpersJS = `
(function (g) {
  'use strict';
  // §1.5 defer: state => complete(Promise.resolve(op(state)).catch(e => error(e, state)))
  g.__defer = function (op, complete, error) {
    complete = complete || function (p) { return p; };
    error = error || function (e) { throw e; };
    // A synchronous throw goes straight to the error handler and skips the
    // complete chain, as @openfn/runtime's defer does with its try/catch.
    return function (state) {
      try {
        return complete(Promise.resolve(op(state)).catch(function (e) { return error(e, state); }));
      } catch (e) {
        return error(e, state);
      }
    };
  };

  // fast-safe-stringify semantics: toJSON first, circular → "[Circular]",
  // functions/undefined dropped by JSON.stringify, key order kept. Final
  // states go through the native slot.stringify (state.go); this is its
  // fallback for states with cycles, and renders console arguments.
  g.__jmStringify = function (value, remove) {
    var stack = [];
    function dec(v) {
      if (v !== null && typeof v === 'object' && typeof v.toJSON === 'function') v = v.toJSON();
      if (v === null || typeof v !== 'object') return v;
      if (stack.indexOf(v) >= 0) return '[Circular]';
      stack.push(v);
      var out;
      if (Array.isArray(v)) {
        out = new Array(v.length);
        for (var i = 0; i < v.length; i++) out[i] = dec(v[i]);
      } else {
        out = {};
        var ks = Object.keys(v);
        for (var j = 0; j < ks.length; j++) out[ks[j]] = dec(v[ks[j]]);
      }
      stack.pop();
      return out;
    }
    var root = dec(value);
    if (root !== null && typeof root === 'object' && !Array.isArray(root) && remove) {
      for (var k = 0; k < remove.length; k++) delete root[remove[k]];
    }
    var s = JSON.stringify(root);
    return s === undefined ? 'null' : s;
  };

  // §2.1 step input assembly. The states arrive already parsed (natively,
  // state.go): input undefined when the step has none, defaults {} and conf
  // null when the job sets none.
  // With no default data to merge, Object.assign({}, defaults.data, d)
  // is a key-by-key copy of d, which was parsed for this step alone and is
  // referenced nowhere else: d itself is that copy, without the O(keys)
  // cost (1.4 s of CPU for a 500,000-key body). The copy stays when it
  // differs from d: default keys to merge, or an own "__proto__" key, which
  // Object.assign's [[Set]] turns into the copy's prototype.
  var hasOwn = Object.prototype.hasOwnProperty;
  function noKeys(v) {
    if (v === undefined || v === null) return true;
    if (typeof v === 'string') return v.length === 0;
    if (typeof v !== 'object') return true;
    return Object.keys(v).length === 0;
  }
  g.__jmAssemble = function (input, defaults, conf, lightning) {
    if (!lightning) {
      var s0 = input === undefined || input === null ? {} : input;
      if (conf) s0.configuration = conf;
      return s0;
    }
    if (input === undefined || input === null) input = { data: {}, configuration: {} };
    var s = Object.assign({}, defaults, input);
    var d = input.data;
    if (Array.isArray(d) || (d !== null && d !== undefined && typeof d !== 'object')) s.data = d;
    else if (d && noKeys(defaults.data) && !hasOwn.call(d, '__proto__')) s.data = d;
    else s.data = Object.assign({}, defaults.data, d);
    s.configuration = Object.assign({}, input.configuration, conf || {});
    return s;
  };

  // Builds the operation list from the compiled thunks and runs it through
  // the adaptor's execute. Returns a value or a Promise.
  g.__jmRun = function (thunks, state, lightning, execute, warn) {
    var ops = [];
    for (var i = 0; i < thunks.length; i++) {
      var n = thunks[i][0];
      var op = thunks[i][1]();
      if (typeof op !== 'function') {
        if (lightning) {
          // @openfn/runtime prepareJob: N is the 0-based index in the
          // operations array; the executor reports it as a RuntimeCrash.
          var err = new Error('Invalid operation at statement ' + n);
          err.name = 'InvalidOperationError';
          err.fix = 'Ensure all top-level function or method calls are wrapped in an operation, like fn()';
          throw err;
        }
        warn('Operation ' + (n + 1) + ' is ' + (op === undefined ? 'undefined' : typeof op) + ' and was skipped (a top-level statement that is not an operation)');
        continue;
      }
      ops.push(lightning ? wrapOp(op, n, ops.length + 1, warn) : track(op, n));
    }
    return execute.apply(null, ops)(state);
  };

  // __jmOp is the statement index of the operation that ran last, so an
  // error raised outside job frames (e.g. by an adaptor) still gets the
  // line of the operation that failed.
  g.__jmOp = -1;
  // __jmState is the state the running operation was handed: when the
  // step crashes it is "the state reached", which jobmediator run writes
  // to -o so the user sees how far the job got.
  g.__jmState = undefined;
  function track(op, n) {
    return function (state) { g.__jmOp = n; g.__jmState = state; return op(state); };
  }

  // v2 wrapOperation: an operation handed a falsy state gets {} and a
  // warning; a falsy result of the last operation means "no final state".
  // It tracks the operation too (one closure a step rather than two): the
  // state recorded is the one the operation is handed, {} included.
  function wrapOp(op, n, pos, warn) {
    return function (state) {
      if (!state) { warn('No state was passed into operation ' + pos + ': using {}'); state = {}; }
      g.__jmOp = n; g.__jmState = state;
      return op(state);
    };
  }
})(globalThis);
`

var helpersProg = goja.MustCompile("jobmediator:runtime", helpersJS, false)
