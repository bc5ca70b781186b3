/**
 * The short form of the fuzz campaign that `npm test` runs (the full one is bench/fuzz): each
 * target for about 9 s with a fixed seed (DARI_FUZZ_SEED overrides it), in worker threads, with
 * the hang detector on. Any crash, broken invariant or hang fails the test, naming the file that
 * replays it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCampaign, TARGET_NAMES } from '../src/index.js';

const SEED = Number(process.env['DARI_FUZZ_SEED'] ?? 0x5eed);
const SECONDS = 27;
/** Fewer messages than this means the target barely ran: a broken harness, not a clean result. */
const MIN_MESSAGES = { stun: 20_000, turn: 20_000, signaling: 5_000 } as const;

test(`fuzz campaign, short form (${SECONDS} s over ${TARGET_NAMES.join(', ')}, seed ${SEED})`, { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dari-fuzz-'));
  let keep = false;
  try {
    const report = await runCampaign({ targets: [...TARGET_NAMES], dir, seconds: SECONDS, seed: SEED, budgetMs: 500 });
    const lines = report.targets.map((t) => `${t.target}: ${t.cases} cases, ${t.messages} messages in ${(t.elapsedMs / 1000).toFixed(1)} s, ${t.findings.length} findings`);
    console.log(lines.join('\n'));
    const findings = report.targets.flatMap((t) => t.findings.map((f) => `${t.target} ${f.kind}: ${f.error}\n  replay: node bench/fuzz/run.mjs --replay ${f.file}`));
    keep = findings.length > 0;
    assert.deepEqual(findings, [], `the fuzz campaign found:\n${findings.join('\n')}`);
    for (const t of report.targets) assert.ok(t.messages >= MIN_MESSAGES[t.target], `${t.target} ran only ${t.messages} messages`);
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
});
