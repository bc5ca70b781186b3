/**
 * The soak's short form (bench/soak, issue #14 item 5): the same churn and the same flatness
 * thresholds as the 10-minute run, for 45 s (25 s of warm-up: longer than werift's longest-lived timers, 33 s after a connection's start). A benchmark run as a test: it
 * fails when a resource grows past its threshold, a cycle fails, or the server does not return
 * to empty between cycles. Event-loop delay is printed but judged only by the full run: the short
 * form has about four busy samples after warm-up, too few to tell a trend from the machine's load.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const RUN = fileURLToPath(new URL('../../../../bench/soak/run.mjs', import.meta.url));

test('soak, short form: churn for 45 s, resources flat after warm-up', { timeout: 180_000 }, async () => {
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = execFile(process.execPath, [RUN, '--duration', '45', '--warmup', '25', '--json'], { timeout: 150_000, maxBuffer: 16 * 1024 * 1024 }, (_err, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }));
  });
  const last = stdout.trim().split('\n').pop() ?? '';
  assert.ok(last.startsWith('{'), `the soak printed no report (exit ${code}): ${stderr.slice(-2000)}`);
  const report = JSON.parse(last) as { flat: boolean; counts: { cycles: number; failed: number; switches: number; files: number; allocations: number }; errors: string[]; resources: Record<string, { first: number; last: number; growth: number; limit: number; flat: boolean }>; unsettled: number };
  const figures = Object.entries(report.resources ?? {}).map(([k, r]) => `${k} ${Math.round(r.first)}→${Math.round(r.last)} (limit +${Math.round(r.limit)})`).join(', ');
  console.log(`# soak short form: ${report.counts?.cycles} cycles; ${figures}`);
  assert.equal(report.counts.failed, 0, report.errors.join('\n'));
  assert.ok(report.counts.cycles >= 5 && report.counts.switches >= 10 && report.counts.files >= 5 && report.counts.allocations >= 20, JSON.stringify(report.counts));
  assert.equal(report.unsettled, 0, 'the server was empty after every cycle');
  for (const [name, r] of Object.entries(report.resources)) if (name !== 'eldP99Ms') assert.ok(r.flat, `${name} grew ${r.growth} (limit ${r.limit})`);
  assert.equal(code === 0, report.flat, `exit code ${code}: 0 exactly when the run judged every resource flat. ${stderr.slice(-2000)}`);
});
