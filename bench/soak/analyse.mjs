/**
 * The soak's verdict: growth of each resource after warm-up against its flatness threshold
 * (bench/soak/README.md explains the choice). Pure: samples in, figures out.
 *
 * Quiet samples (the server holding nothing, after two garbage collections) are compared:
 * growth = median of the last third − median of the first third of those taken after warm-up,
 * so one noisy sample moves neither end. Event-loop delay is compared the same way on the busy
 * samples (taken during churn). Every quiet sample must also find the server empty (`settled`):
 * rooms, participants, connections, SFU peer connections and TURN allocations all back to 0.
 */

const MiB = 2 ** 20;

/**
 * Flatness thresholds: a resource is flat when its growth is at most `abs + rel × first`.
 * Units: bytes for memory, counts for descriptors and handles, ms for event-loop delay.
 */
export const THRESHOLDS = {
  heapUsed: { abs: 2 * MiB, rel: 0.05, unit: 'bytes' },
  rss: { abs: 16 * MiB, rel: 0.1, unit: 'bytes' },
  external: { abs: 4 * MiB, rel: 0.1, unit: 'bytes' },
  fds: { abs: 2, rel: 0, unit: 'count' },
  // werift's DTLS flights keep retransmitting for up to 33 s after their connection is gone
  // (10 retries 0.5-5.5 s apart, index.mjs Flight.transmit): a few such timers are always live
  // under churn. 6 still catches a leak of one per cycle within the short form's 10+ cycles.
  handles: { abs: 6, rel: 0, unit: 'count' },
  timers: { abs: 6, rel: 0, unit: 'count' },
  eldP99Ms: { abs: 10, rel: 1, unit: 'ms' },
};

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};

/** Median of the first and of the last third of `values` (at least one value each). */
function ends(values) {
  const k = Math.max(1, Math.floor(values.length / 3));
  return { first: median(values.slice(0, k)), last: median(values.slice(-k)) };
}

/** Least-squares slope of `ys` over `ts` (ms), per hour. */
function slopePerHour(ts, ys) {
  const n = ts.length;
  if (n < 2) return 0;
  const mt = ts.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (ts[i] - mt) * (ys[i] - my);
    den += (ts[i] - mt) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 3_600_000;
}

/**
 * @param samples every sample, in time order, each `{kind: 'quiet'|'busy', warm, t, …figures}`
 * @returns per-resource figures and the verdict
 */
export function analyse(samples, { durationS, warmupS, counts, errors }) {
  const quiet = samples.filter((s) => s.kind === 'quiet' && !s.warm);
  const busy = samples.filter((s) => s.kind === 'busy' && !s.warm);
  const resources = {};
  let flat = quiet.length >= 2;
  for (const [name, th] of Object.entries(THRESHOLDS)) {
    const series = name === 'eldP99Ms' ? busy : quiet;
    const key = name === 'external' ? (s) => s.external + s.arrayBuffers : (s) => s[name];
    const values = series.map(key);
    if (values.length === 0) {
      resources[name] = { samples: 0, flat: name === 'eldP99Ms' };
      continue;
    }
    const { first, last } = ends(values);
    const growth = last - first;
    const limit = th.abs + th.rel * Math.max(0, first);
    const ok = growth <= limit;
    flat &&= ok;
    resources[name] = { samples: values.length, first, last, growth, limit, perHour: slopePerHour(series.map((s) => s.t), values), max: Math.max(...values), flat: ok, unit: th.unit };
  }
  const unsettled = quiet.filter((s) => !s.settled).length;
  flat &&= unsettled === 0;
  return { flat, durationS, warmupS, quietSamples: quiet.length, busySamples: busy.length, unsettled, counts, errors, resources, thresholds: THRESHOLDS };
}

const show = (v, unit) => (unit === 'bytes' ? `${(v / MiB).toFixed(2)} MiB` : unit === 'ms' ? `${v.toFixed(1)} ms` : `${Math.round(v)}`);

/** The report as text: one line per resource, the counts, the verdict and the command. */
export function formatReport(r, command) {
  const lines = [`# soak: ${r.durationS.toFixed(0)} s (warm-up ${r.warmupS} s), ${r.counts.cycles} cycles (${r.counts.failed} failed)`];
  const c = r.counts;
  lines.push(`# churn: ${c.joins} joins and leaves, ${c.switches} P2P↔SFU switches, ${c.files} files (${(c.fileBytes / MiB).toFixed(1)} MiB, SHA-256 checked), ${c.allocations} TURN allocations (${c.relayed} datagrams relayed)`);
  lines.push(`# after warm-up: ${r.quietSamples} quiet samples (server empty, after GC), ${r.busySamples} busy ones; growth = median of the last third − median of the first third`);
  for (const [name, x] of Object.entries(r.resources)) {
    if (!x.samples) {
      lines.push(`#   ${name.padEnd(9)} no samples`);
      continue;
    }
    const perHour = x.unit === 'bytes' ? `, trend ${(x.perHour / MiB).toFixed(2)} MiB/h` : '';
    lines.push(`#   ${name.padEnd(9)} ${show(x.first, x.unit)} → ${show(x.last, x.unit)}: growth ${show(x.growth, x.unit)} (limit ${show(x.limit, x.unit)})${perHour}  ${x.flat ? 'flat' : 'GROWS'}`);
  }
  if (r.unsettled) lines.push(`#   ${r.unsettled} quiet samples found the server still holding rooms, connections or allocations`);
  for (const e of r.errors.slice(0, 10)) lines.push(`#   error: ${e}`);
  lines.push(`# verdict: ${r.flat && r.counts.failed === 0 ? 'FLAT' : 'NOT FLAT'}`);
  lines.push(`# reproduce: ${command}`);
  return lines.join('\n');
}
