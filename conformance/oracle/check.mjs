// check.mjs — Go-free consistency check of the conformance corpus.
//
// Usage: node check.mjs ../corpus
//
// Verifies that every job NNN-name.js declares a profile on line 1 and says
// what it checks (citing a spec section) on line 2, that it has a golden for
// each profile it declares (and no golden for a profile it does not), that
// every golden and state file is valid JSON, that failure goldens have the
// agreed shape, and that secrets in inputs are dropped (lightning) or kept
// (legacy). Exits 1 with one line per problem.
import fs from 'node:fs';
import path from 'node:path';

const dir = path.resolve(process.argv[2] ?? '../corpus');
const problems = [];
const bad = (file, msg) => problems.push(`${file}: ${msg}`);

const NAME = /^(\d{3})-([a-z0-9]+(?:-[a-z0-9]+)*)\.(js|state\.json|lightning\.golden\.json|legacy\.golden\.json)$/;
const files = fs.readdirSync(dir).filter((f) => f !== 'README.md');
const jobs = new Map();
const numbers = new Map();
for (const f of files) {
  const m = NAME.exec(f);
  if (!m) {
    bad(f, 'name does not follow NNN-name.{js,state.json,lightning.golden.json,legacy.golden.json}');
    continue;
  }
  const base = `${m[1]}-${m[2]}`;
  if (!jobs.has(base)) jobs.set(base, new Set());
  jobs.get(base).add(m[3]);
  if (m[3] === 'js') {
    if (numbers.has(m[1])) bad(f, `number ${m[1]} already used by ${numbers.get(m[1])}`);
    numbers.set(m[1], base);
  }
}

const readJSON = (f) => {
  try {
    return { ok: true, value: JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8').replace(/^\uFEFF/, '')) };
  } catch (e) {
    bad(f, `invalid JSON: ${e.message}`);
    return { ok: false };
  }
};

// Every string value inside an object (to find secrets).
const strings = (v, out = []) => {
  if (typeof v === 'string') out.push(v);
  else if (v && typeof v === 'object') Object.values(v).forEach((x) => strings(x, out));
  return out;
};

const counts = { lightning: 0, legacy: 0, both: 0 };
for (const [base, kinds] of [...jobs].sort()) {
  if (!kinds.has('js')) {
    bad(base, 'golden or state file without a job');
    continue;
  }
  const src = fs.readFileSync(path.join(dir, `${base}.js`), 'utf8');
  const lines = src.split('\n');
  const pm = /^\/\/ profile: (lightning|legacy|both)$/.exec(lines[0]);
  if (!pm) {
    bad(`${base}.js`, "line 1 must be '// profile: lightning|legacy|both'");
    continue;
  }
  const profile = pm[1];
  counts[profile]++;
  if (!/^\/\/ .+§\d/.test(lines[1] ?? '')) bad(`${base}.js`, 'line 2 must say what the job checks and cite a spec section (§N)');

  let input = {};
  if (kinds.has('state.json')) {
    const r = readJSON(`${base}.state.json`);
    if (r.ok) input = r.value;
  }
  // Only secret-looking fields: jobs may legitimately copy e.g. a username.
  const secrets = input && input.configuration
    ? Object.entries(input.configuration)
        .filter(([k]) => /pass|secret|token|key/i.test(k))
        .flatMap(([, v]) => strings(v))
    : [];

  const want = { lightning: profile !== 'legacy', legacy: profile !== 'lightning' };
  for (const p of ['lightning', 'legacy']) {
    const kind = `${p}.golden.json`;
    const f = `${base}.${kind}`;
    if (want[p] && !kinds.has(kind)) {
      bad(f, `missing (job declares profile ${profile})`);
      continue;
    }
    if (!want[p] && kinds.has(kind)) {
      bad(f, `unexpected (job declares profile ${profile})`);
      continue;
    }
    if (!want[p]) continue;
    const r = readJSON(f);
    if (!r.ok) continue;
    const g = r.value;
    if (g && typeof g === 'object' && 'error' in g) {
      if (Object.keys(g).length !== 1) bad(f, 'a failure golden must have "error" as its only key');
      if (typeof g.error?.message !== 'string') bad(f, 'error.message must be a string');
      if (p === 'legacy' && typeof g.error?.spec !== 'string') bad(f, 'legacy error must cite the spec section in error.spec');
      if (p === 'lightning' && !['crash', 'kill'].includes(g.error?.severity)) bad(f, 'a thrown lightning error must have severity crash or kill');
    }
    const flat = JSON.stringify(g);
    if (p === 'lightning') {
      if (g && typeof g === 'object' && 'configuration' in g) bad(f, 'lightning final state must not contain configuration');
      for (const s of secrets) if (s && flat.includes(s)) bad(f, 'a configuration value leaked into the lightning golden');
    }
    if (p === 'legacy' && secrets.length && g && !('error' in g) && 'configuration' in g) {
      for (const s of secrets) if (!flat.includes(s)) bad(f, 'legacy final state must keep configuration values');
    }
  }
}

const total = counts.lightning + counts.legacy + counts.both;
if (problems.length) {
  console.error(problems.join('\n'));
  console.error(`${problems.length} problem(s) in ${dir}`);
  process.exit(1);
}
console.log(
  `${total} jobs ok: ${counts.both} both, ${counts.lightning} lightning-only, ${counts.legacy} legacy-only ` +
    `(${counts.both + counts.lightning} lightning goldens, ${counts.both + counts.legacy} legacy goldens)`
);
