// compile.mjs — the oracle's small stand-in for @openfn/compiler.
//
// @openfn/compiler is not published on the npm registry we can reach (npm
// answers E404 for @openfn/compiler), so the oracle compiles corpus jobs with
// this module instead. It reproduces the transforms of
// OpenFn/kit:packages/compiler/src/transforms (lazy-state, promises,
// ensure-exports, top-level-operations, add-imports) for the constructs the
// corpus uses, and nothing more:
//
//   * `$.a.b` member chains → `state.a.b`, and the argument of the nearest
//     enclosing call that contains the chain is wrapped as `state => (...)`
//     (an argument that already is `state => …` is left alone; an arrow with
//     another parameter name or arity, or reaching a statement first, is a
//     LazyStateError like the real transform).
//   * a top-level `op(...).then(a).catch(c)` statement → `_defer(op(...), p =>
//     p.then(a).catch(c))`; only a `.catch` directly after the operation is cut
//     out and passed as defer's error handler (promises.ts rebuildPromiseChain).
//   * every top-level ExpressionStatement whose expression is a CallExpression
//     becomes an element of `export default [...]`, evaluated after all other
//     top-level statements (so declarations are visible, in source order).
//   * language-common exports that are used but never declared are imported,
//     and `export * from '@openfn/language-common'` exposes its execute().
//
// Why source-range edits instead of moving code: operations are wrapped in
// place (`function __opN() { return <call> }` and `export default [__op0(),
// …]` appended), so the line of every statement stays where it was written and
// error positions need only a small source map (also produced here, so the
// runtime maps positions back exactly as it does for compiler output).

import * as acorn from 'acorn';
import * as walk from 'acorn-walk';
import { SourceMapGenerator } from 'source-map';

export const ADAPTOR = '@openfn/language-common';

export class LazyStateError extends Error {
  name = 'LazyStateError';
}

const isStatementOrDeclaration = (node) =>
  /Statement$|Declaration$/.test(node.type);

// Root identifier of a member chain (a.b.c → a), or null.
const memberRoot = (node) => {
  let n = node;
  while (n.type === 'MemberExpression') n = n.object;
  return n.type === 'Identifier' ? n : null;
};

// Every name declared anywhere in the program (params, variables, functions,
// classes, imports, catch params). A simplification of scope analysis that is
// exact for the corpus, which never shadows an adaptor export locally.
const declaredNames = (ast) => {
  const names = new Set();
  const addPattern = (p) => {
    if (!p) return;
    switch (p.type) {
      case 'Identifier':
        names.add(p.name);
        break;
      case 'ObjectPattern':
        p.properties.forEach((prop) =>
          addPattern(prop.type === 'RestElement' ? prop.argument : prop.value)
        );
        break;
      case 'ArrayPattern':
        p.elements.forEach(addPattern);
        break;
      case 'RestElement':
        addPattern(p.argument);
        break;
      case 'AssignmentPattern':
        addPattern(p.left);
        break;
    }
  };
  const fnVisitor = (node) => {
    if (node.id) addPattern(node.id);
    node.params.forEach(addPattern);
  };
  walk.full(ast, (node) => {
    switch (node.type) {
      case 'VariableDeclarator':
        addPattern(node.id);
        break;
      case 'FunctionDeclaration':
      case 'FunctionExpression':
      case 'ArrowFunctionExpression':
        fnVisitor(node);
        break;
      case 'ClassDeclaration':
        if (node.id) addPattern(node.id);
        break;
      case 'CatchClause':
        addPattern(node.param);
        break;
      case 'ImportSpecifier':
      case 'ImportDefaultSpecifier':
      case 'ImportNamespaceSpecifier':
        addPattern(node.local);
        break;
    }
  });
  return names;
};

// Identifiers used as references (not property names, not keys).
const referencedNames = (ast) => {
  const names = new Set();
  walk.fullAncestor(ast, (node, _state, ancestors) => {
    if (node.type !== 'Identifier') return;
    const parent = ancestors[ancestors.length - 2];
    if (parent) {
      if (parent.type === 'MemberExpression' && parent.property === node && !parent.computed) return;
      if ((parent.type === 'Property' || parent.type === 'MethodDefinition' || parent.type === 'PropertyDefinition') &&
          parent.key === node && !parent.computed && !(parent.shorthand)) return;
      if (parent.type === 'LabeledStatement' || parent.type === 'BreakStatement' || parent.type === 'ContinueStatement') return;
    }
    names.add(node.name);
  });
  return names;
};

export function compile(src, { exportsList, stepId = 'job', adaptor = ADAPTOR } = {}) {
  const edits = []; // { pos, end, text, order }
  let seq = 0;
  const insert = (pos, text, order = seq++) => edits.push({ pos, end: pos, text, order });
  const replace = (pos, end, text) => edits.push({ pos, end, text, order: seq++ });

  const ast = acorn.parse(src, {
    ecmaVersion: 'latest',
    sourceType: 'module',
    locations: true,
    allowHashBang: true,
  });
  const declared = declaredNames(ast);

  // --- lazy state ($) -----------------------------------------------------
  const wrapped = new Set();
  if (!declared.has('$')) {
    walk.ancestor(ast, {
      MemberExpression(node, _s, ancestors) {
        const parent = ancestors[ancestors.length - 2];
        // only the outermost member of a chain
        if (parent && parent.type === 'MemberExpression' && parent.object === node) return;
        const root = memberRoot(node);
        if (!root || root.name !== '$') return;
        replace(root.start, root.end, 'state');
        let last = node;
        let call = null;
        for (let i = ancestors.length - 2; i >= 0; i--) {
          const a = ancestors[i];
          if (a.type === 'CallExpression') {
            call = a;
            break;
          }
          if (isStatementOrDeclaration(a)) {
            throw new LazyStateError('invalid state operator: must be inside an expression');
          }
          last = a;
        }
        if (!call) {
          throw new LazyStateError('invalid state operator: must be be passed as an argument to an operator');
        }
        let arg = last;
        if (call.callee === last && last.type === 'MemberExpression' && last.object.type === 'Identifier' && last.object.name === '$') {
          arg = call;
        }
        if (arg.type === 'ArrowFunctionExpression') {
          if (arg.params.length !== 1) throw new LazyStateError('invalid state operator: parent has wrong arity');
          const name = arg.params[0].name;
          if (name !== 'state') throw new LazyStateError(`invalid state operator: parameter "${name}" should be called "state"`);
          return;
        }
        if (wrapped.has(arg.start)) return;
        wrapped.add(arg.start);
        insert(arg.start, 'state => (');
        insert(arg.end, ')');
      },
    });
  }

  // --- promises (.then/.catch on a top-level operation) -------------------
  let usesDefer = false;
  const isThenCatch = (callee) =>
    callee && callee.type === 'MemberExpression' && !callee.computed &&
    /^(then|catch)$/.test(callee.property.name);

  const operations = [];
  for (const stmt of ast.body) {
    if (stmt.type !== 'ExpressionStatement' || stmt.expression.type !== 'CallExpression') continue;
    const expr = stmt.expression;
    if (isThenCatch(expr.callee)) {
      // links from the operation outwards
      const links = [];
      let op = expr;
      while (op.type === 'CallExpression' && isThenCatch(op.callee)) {
        links.unshift(op);
        op = op.callee.object;
      }
      if (op.type === 'CallExpression') {
        usesDefer = true;
        replace(expr.start, op.start, '_defer(');
        const first = links[0];
        if (first.callee.property.name === 'catch') {
          const catchFn = first.arguments[0];
          const catchText = catchFn ? src.slice(catchFn.start, catchFn.end) : 'undefined';
          if (links.length > 1) {
            replace(op.end, first.end, ', p => p');
          } else {
            replace(op.end, first.end, ', undefined');
          }
          insert(expr.end, `, ${catchText})`);
        } else {
          insert(op.end, ', p => p');
          insert(expr.end, ')');
        }
      }
    }
    const idx = operations.length;
    operations.push({
      name: expr.callee.type === 'Identifier' ? expr.callee.name : undefined,
      line: expr.loc.start.line,
      order: idx + 1,
    });
    // the wrapper opens before and closes after any promise rewrite edits
    insert(expr.start, `function __op${idx}() { return `, -1);
    insert(expr.end, ' }', Number.MAX_SAFE_INTEGER);
  }

  // --- imports and exports --------------------------------------------------
  const used = referencedNames(ast);
  const imports = exportsList.filter((e) => used.has(e) && !declared.has(e) && e !== 'default');
  let header = '';
  if (imports.length) header += `import { ${imports.join(', ')} } from '${adaptor}'; `;
  if (usesDefer) header += `import { defer as _defer } from '@openfn/runtime'; `;
  header += `export * from '${adaptor}'; `;
  insert(0, header, -2);
  const footer = `\nexport default [${operations.map((_, i) => `__op${i}()`).join(', ')}];\n`;
  insert(src.length, footer);

  // --- apply edits ------------------------------------------------------------
  // at one offset: pure insertions (by order) before a replacement
  edits.sort((a, b) => a.pos - b.pos || (a.end > a.pos) - (b.end > b.pos) || a.order - b.order);
  let out = '';
  let cursor = 0;
  for (const e of edits) {
    if (e.pos < cursor) throw new Error(`overlapping compile edits at ${e.pos}`);
    out += src.slice(cursor, e.pos) + e.text;
    cursor = e.end;
  }
  out += src.slice(cursor);

  // --- source map: one mapping per original token ---------------------------
  const delta = (p) => {
    let d = 0;
    for (const e of edits) {
      if (e.pos > p) break;
      if (e.end === e.pos || e.end <= p) d += e.text.length - (e.end - e.pos);
      else return null; // inside a replaced range
    }
    return d;
  };
  const lineStarts = (s) => {
    const starts = [0];
    for (let i = 0; i < s.length; i++) if (s[i] === '\n') starts.push(i + 1);
    return starts;
  };
  const toLC = (starts, off) => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= off) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: off - starts[lo] };
  };
  const srcStarts = lineStarts(src);
  const outStarts = lineStarts(out);
  const fileName = `${stepId}.js`;
  const gen = new SourceMapGenerator({ file: 'compiled.js' });
  gen.setSourceContent(fileName, src);
  for (const tok of acorn.tokenizer(src, { ecmaVersion: 'latest', sourceType: 'module', allowHashBang: true })) {
    const d = delta(tok.start);
    if (d === null) continue;
    gen.addMapping({
      source: fileName,
      original: toLC(srcStarts, tok.start),
      generated: toLC(outStarts, tok.start + d),
      name: tok.type.label === 'name' ? tok.value : undefined,
    });
  }
  const sourceMap = JSON.parse(gen.toString());
  sourceMap.operations = operations;

  return { code: out, sourceMap, operations };
}
