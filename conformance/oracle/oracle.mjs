import { createRequire } from 'node:module';
// oracle.mjs — records the lightning-profile goldens of the conformance
// corpus by running each job through the real @openfn/runtime (1.9.5) with
// the real @openfn/language-common (3.3.4).
//
// Usage: node --experimental-vm-modules oracle.mjs ../corpus [filter]
//
// For every corpus job whose first line is `// profile: lightning` or
// `// profile: both`, it compiles the job (compile.mjs), runs it as a
// one-step workflow whose step id is the job's base name, and writes
// NNN-name.lightning.golden.json: the final state exactly as run() returns it
// (cleaned with the worker's statePropsToRemove, see README), or
// {"error": {...}} when run() throws (crash/kill severity: no final state).
process.env.TZ = 'UTC'; // cursor 'today' and date-fns format use local time

import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import run from '@openfn/runtime';
import { createMockLogger } from '@openfn/logger';
import * as common from '@openfn/language-common';
import { compile } from './compile.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const commonDir = path.join(here, 'node_modules', '@openfn', 'language-common');
const commonVersion = JSON.parse(fs.readFileSync(path.join(commonDir, 'package.json'), 'utf8')).version;
const runtimeVersion = JSON.parse(
  fs.readFileSync(path.join(here, 'node_modules', '@openfn', 'runtime', 'package.json'), 'utf8')
).version;

// The ws-worker / engine-multi default (WORKER_STATE_PROPS_TO_REMOVE); the
// runtime's own default is ['configuration'] only. Lightning runs go through
// the worker, so the lightning profile golden uses the worker's list.
export const STATE_PROPS_TO_REMOVE = ['configuration', 'response'];

export function parseHeader(src) {
  const lines = src.replace(/^\uFEFF/, '').split('\n');
  const m = /^\/\/\s*profile:\s*(lightning|legacy|both)\s*$/.exec(lines[0] ?? '');
  const header = { profile: m ? m[1] : null, clock: null, describe: null, adaptor: null };
  if (lines[1] && lines[1].startsWith('//')) header.describe = lines[1].replace(/^\/\/\s*/, '');
  for (const line of lines) {
    if (!line.startsWith('//')) break;
    const c = /^\/\/\s*clock:\s*(\S+)\s*$/.exec(line);
    if (c) header.clock = c[1];
    const a = /^\/\/\s*adaptor:\s*(@openfn\/language-[a-z0-9-]+)@(\S+)\s*$/.exec(line);
    if (a) header.adaptor = { name: a[1], version: a[2] };
  }
  return header;
}

// A Date whose "now" is fixed; everything else is the real Date.
function frozenDate(RealDate, iso) {
  const fixed = RealDate.parse(iso);
  if (Number.isNaN(fixed)) throw new Error(`bad clock header: ${iso}`);
  class FrozenDate extends RealDate {
    constructor(...args) {
      if (args.length === 0) super(fixed);
      else super(...args);
    }
    static now() {
      return fixed;
    }
  }
  return FrozenDate;
}

// The enumerable fields of an error, as the runtime's serialize() sees them,
// minus the stack (it holds machine paths) and undefined values.
export function errorRecord(e) {
  if (!(e instanceof Error) && (typeof e !== 'object' || e === null)) {
    return { name: 'Error', message: String(e) };
  }
  const out = {};
  for (const key in e) {
    if (key === 'stack' || e[key] === undefined) continue;
    out[key] = e[key];
  }
  if (!('name' in out) && e.name) out.name = e.name;
  if (!('message' in out) && e.message) out.message = e.message;
  return JSON.parse(JSON.stringify(out));
}

function stripStacks(value) {
  if (Array.isArray(value)) return value.map(stripStacks);
  if (value && typeof value === 'object') {
    const out = {};
    for (const [k, v] of Object.entries(value)) {
      if (k === 'stack') continue;
      out[k] = stripStacks(v);
    }
    return out;
  }
  return value;
}

// The echo server adaptor jobs talk to (the Go test runs one with the same
// contract, conformance/echo_test.go): every request is answered 200 with
// JSON {method, path, query, contentType, body} (body parsed when JSON);
// a path ending in /fail answers 500 {"error":"echo fail"}, one ending in
// /missing 404 {"error":"echo missing"}.
let echoURL = 'http://127.0.0.1:0';
export function startEcho() {
  return new Promise((resolve) => {
    const srv = http.createServer((req, res) => {
      let raw = '';
      req.on('data', (c) => (raw += c));
      req.on('end', () => {
        const u = new URL(req.url, 'http://x');
        const send = (status, obj) => {
          res.writeHead(status, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify(obj));
        };
        if (u.pathname.endsWith('/fail')) return send(500, { error: 'echo fail' });
        if (u.pathname.endsWith('/missing')) return send(404, { error: 'echo missing' });
        let body = raw;
        try {
          body = raw === '' ? null : JSON.parse(raw);
        } catch (e) {
          /* text stays */
        }
        send(200, {
          method: req.method,
          path: u.pathname,
          query: Object.fromEntries(u.searchParams),
          contentType: req.headers['content-type'] ?? null,
          body,
        });
      });
    });
    srv.listen(0, '127.0.0.1', () => {
      echoURL = `http://127.0.0.1:${srv.address().port}`;
      resolve(srv);
    });
  });
}

export async function runJob(file) {
  const src = fs.readFileSync(file, 'utf8');
  const base = path.basename(file, '.js');
  const statePath = file.replace(/\.js$/, '.state.json');
  const input = fs.existsSync(statePath)
    ? JSON.parse(fs.readFileSync(statePath, 'utf8').replace(/^\uFEFF/, '').replaceAll('{{ECHO}}', echoURL))
    : {};
  const header = parseHeader(src);
  // A job may name another adaptor (`// adaptor: @openfn/language-http@7.2.10`,
  // the exact version installed here; an older major is installed under the
  // alias <name>-<major>, e.g. @openfn/language-http-6 for 6.4.3). Its state
  // may use {{ECHO}}, the URL of the echo server below, which the Go test
  // replaces the same way.
  let adaptorName = '@openfn/language-common';
  let adaptorDir = commonDir;
  let exportsList = Object.keys(common);
  if (header.adaptor) {
    adaptorName = header.adaptor.name;
    adaptorDir = path.join(here, 'node_modules', ...adaptorName.split('/'));
    const alias = path.join(here, 'node_modules', ...`${adaptorName}-${header.adaptor.version.split('.')[0]}`.split('/'));
    if (fs.existsSync(alias)) adaptorDir = alias;
    const installed = JSON.parse(fs.readFileSync(path.join(adaptorDir, 'package.json'), 'utf8')).version;
    if (installed !== header.adaptor.version) {
      throw new Error(`${base}: wants ${adaptorName}@${header.adaptor.version}, ${installed} is installed`);
    }
    // the names @openfn/runtime's linker gives the job: a CommonJS
    // adaptor's (4.x) are those of its default.default export
    // (language-common 2.0.1, under language-http 6.4.3, imports the
    // extensionless 'lodash/set', which an ESM import in this realm cannot
    // resolve; the runtime's linker loads it, and the CommonJS build gives
    // the same names)
    const spec = adaptorDir === alias ? `${adaptorName}-${header.adaptor.version.split('.')[0]}` : adaptorName;
    let ns;
    try {
      ns = await import(spec);
    } catch {
      ns = createRequire(import.meta.url)(spec);
    }
    exportsList = Object.keys(ns.__esModule && ns.default && ns.default.default ? ns.default.default : ns);
  }
  const { code, sourceMap } = compile(src, { exportsList, stepId: base, adaptor: adaptorName });

  const jobLogger = createMockLogger('JOB');
  const logger = createMockLogger('R/T');
  const opts = {
    logger,
    jobLogger,
    statePropsToRemove: STATE_PROPS_TO_REMOVE,
    defaultRunTimeoutMs: 20000,
    // a fresh copy of language-common per job (its cursor() keeps module
    // state, and every Lightning run gets a fresh worker)
    linker: {
      modules: { [adaptorName]: { path: adaptorDir } },
      cacheKey: base,
    },
  };
  const RealDate = globalThis.Date;
  if (header.clock) {
    const Frozen = frozenDate(RealDate, header.clock);
    globalThis.Date = Frozen; // adaptor code runs in this realm
    opts.globals = { Date: Frozen }; // job code runs in the vm context
  }
  const plan = {
    id: 'conformance',
    workflow: { steps: [{ id: base, expression: code, sourceMap }] },
    options: {},
  };
  let golden;
  try {
    const result = await run(plan, input, opts);
    golden = stripStacks(JSON.parse(JSON.stringify(result ?? null).replaceAll(echoURL, '{{ECHO}}')));
  } catch (e) {
    golden = { error: errorRecord(e) };
  } finally {
    globalThis.Date = RealDate;
  }
  return { base, header, code, golden, logs: jobLogger._history };
}

async function main() {
  const dir = path.resolve(process.argv[2] ?? '../corpus');
  const filter = process.argv[3];
  const files = fs
    .readdirSync(dir)
    .filter((f) => /^\d{3}-[a-z0-9-]+\.js$/.test(f))
    .filter((f) => !filter || f.includes(filter))
    .sort();
  const echo = await startEcho();
  let written = 0;
  let skipped = 0;
  const failures = [];
  for (const f of files) {
    const file = path.join(dir, f);
    const src = fs.readFileSync(file, 'utf8');
    const { profile } = parseHeader(src);
    if (profile !== 'lightning' && profile !== 'both') {
      skipped++;
      continue;
    }
    try {
      const { base, golden, code } = await runJob(file);
      if (process.env.ORACLE_DEBUG) console.log(`--- ${base}\n${code}`);
      fs.writeFileSync(path.join(dir, `${base}.lightning.golden.json`), JSON.stringify(golden, null, 2) + '\n');
      written++;
      console.log(`${base}: ${golden && golden.error ? `error ${golden.error.name}` : 'ok'}`);
    } catch (e) {
      failures.push(`${f}: ${e.stack || e}`);
    }
  }
  console.log(
    `\n@openfn/runtime ${runtimeVersion}, @openfn/language-common ${commonVersion}: ` +
      `${written} lightning goldens written, ${skipped} legacy-only jobs skipped`
  );
  echo.close();
  if (failures.length) {
    console.error(`oracle could not run ${failures.length} job(s):\n${failures.join('\n')}`);
    process.exit(1);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main();
}
