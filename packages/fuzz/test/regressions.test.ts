/**
 * Every crash, broken invariant and hang the fuzz campaign found, replayed: packages/fuzz/regressions/
 * holds one self-contained case per file (target, configuration, steps, why it failed and where it
 * was fixed), saved from a campaign's findings and minimized (`node bench/fuzz/run.mjs --minimize
 * FILE`); large ones gzipped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { targetOf, type CaseRecord } from '../src/index.js';

const DIR = fileURLToPath(new URL('../../regressions/', import.meta.url));
/** A replayed step slower than this is the hang come back, ms (generous: a replay is one case). */
const HANG_MS = 1000;

interface Regression {
  why: string;
  fix: string;
  record: CaseRecord;
}

// Large cases (a crowd at its size limits) are kept gzipped.
const files = readdirSync(DIR).filter((f) => f.endsWith('.json') || f.endsWith('.json.gz')).sort();
const read = (file: string): string => (file.endsWith('.gz') ? gunzipSync(readFileSync(join(DIR, file))).toString('utf8') : readFileSync(join(DIR, file), 'utf8'));

test('the regression set is not empty', () => {
  assert.ok(files.length > 0);
});

for (const file of files) {
  const r = JSON.parse(read(file)) as Regression;
  test(`fuzz regression ${file}: ${r.why}`, async () => {
    assert.ok(r.record && Array.isArray(r.record.steps) && r.record.steps.length > 0, 'a case with steps');
    const out = await targetOf(r.record.target).replay(r.record);
    assert.ok(out.slowestStepMs < HANG_MS, `a step took ${out.slowestStepMs.toFixed(0)} ms`);
  });
}
