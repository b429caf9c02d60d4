// run.mjs — the Node baseline of `make bench`: runs one job through the real
// @openfn/runtime (1.9.5) with @openfn/language-common (3.3.4), in process,
// the way a warm OpenFn worker does, and prints the wall time of each repeat.
//
// Usage: node --experimental-vm-modules run.mjs JOB.mjs INPUT.json REPEATS
//
// Each repeat is timed from the input as JSON text to the final state as
// JSON text (JSON.parse, run(), JSON.stringify), which is what the Go side
// does too: state arrives and leaves a run as bytes on both. One untimed
// warm-up run comes first (module linking, JIT). Output: one JSON line
// {"ms":[...],"bytes":N} on stdout.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import run from '@openfn/runtime';
import { createMockLogger } from '@openfn/logger';

const here = path.dirname(fileURLToPath(import.meta.url));
const [jobFile, inputFile, repeatsArg] = process.argv.slice(2);
const code = fs.readFileSync(jobFile, 'utf8');
const text = fs.readFileSync(inputFile, 'utf8');
const repeats = Number(repeatsArg || 3);

const opts = {
  logger: createMockLogger('R/T'),
  jobLogger: createMockLogger('JOB'),
  statePropsToRemove: ['configuration', 'response'],
  defaultRunTimeoutMs: 600000,
  linker: {
    modules: { '@openfn/language-common': { path: path.join(here, 'node_modules', '@openfn', 'language-common') } },
    cacheKey: 'bench',
  },
};
const plan = { id: 'bench', workflow: { steps: [{ id: 'job', expression: code }] }, options: {} };

async function once() {
  const t0 = performance.now();
  const state = JSON.parse(text);
  const result = await run(plan, state, opts);
  const out = JSON.stringify(result);
  return [performance.now() - t0, out.length];
}

await once();
const ms = [];
let bytes = 0;
for (let i = 0; i < repeats; i++) {
  const [t, n] = await once();
  ms.push(t);
  bytes = n;
}
process.stdout.write(JSON.stringify({ ms, bytes }) + '\n');
