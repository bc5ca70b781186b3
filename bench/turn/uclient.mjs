/**
 * Runs coturn's `turnutils_uclient` load generator (one or several processes) against a TURN
 * server and collects its figures, timestamped here, plus the server's CPU and UDP drops.
 *
 * uclient, per client (= one allocation with -c): Allocate, CreatePermission/ChannelBind to the
 * peer, then, starting 1–6 s (random) after the connect phase, sends -n ChannelData messages of
 * -l bytes every -z ms (at most 50 per 1 ms timer tick; -z 0 = 50 per tick, as fast as it can),
 * open loop (it never waits for echoes). The peer (`turnutils_peer`) echoes each message back to
 * the relayed address; the server relays it back as ChannelData. uclient then waits until every
 * echo came back or 10 s after its last send, deletes its allocations and prints totals.
 * Every second it prints cumulative `tot_send_msgs` / `tot_recv_msgs`; we timestamp those lines.
 */
import { spawnTracked, cpuSeconds, cpuSplit, udpCounters, socketDrops, systemCpu, sleep } from './common.mjs';
import { readFileSync } from 'node:fs';

const CORES = readFileSync('/proc/stat', 'utf8').split('\n').filter((l) => /^cpu\d/.test(l)).length;
import { createInterface } from 'node:readline';

const STATS = /tot_send_msgs=(\d+), tot_recv_msgs=(\d+)/;

/**
 * @param server handle from common.mjs (pid, name)
 * @param o { port, peerPort, clients, n, length, z, procs, timeoutMs, peerPid, onSteady }
 *   onSteady: called once every client should be sending (connect + 6 s)
 */
export async function runUclient(server, o) {
  const procs = Math.max(1, Math.min(o.procs ?? 1, o.clients));
  const per = Array.from({ length: procs }, (_, i) => Math.floor(o.clients / procs) + (i < o.clients % procs ? 1 : 0));
  const argsFor = (m) => ['-m', String(m), '-n', String(o.n), '-l', String(o.length), '-z', String(o.z), '-c', '-u', 'alice', '-w', 'secret', '-e', '127.0.0.1', '-r', String(o.peerPort), '-p', String(o.port), '127.0.0.1'];
  const command = per.map((m) => `turnutils_uclient ${argsFor(m).join(' ')}`).join(' & ');
  const peerCpu = () => {
    try {
      return o.peerPid ? cpuSeconds(o.peerPid) : 0;
    } catch {
      return NaN;
    }
  };
  const split = () => {
    try {
      return cpuSplit(server.pid);
    } catch {
      return { user: NaN, sys: NaN };
    }
  };
  const before = { split: split(), server: server.cpu(), peer: peerCpu(), udp: udpCounters(), drops: socketDrops(server.pid, o.port), sys: systemCpu() };
  const t0 = performance.now();
  const now = () => (performance.now() - t0) / 1000;
  let first = null;
  const runs = per.map((m) => {
    const child = spawnTracked('turnutils_uclient', argsFor(m));
    const r = { m, child, samples: [], connectedAt: null, final: {}, lines: [], cpuS: 0, exit: null };
    first ??= r;
    const take = (line) => {
      r.lines.push(line);
      if (r.lines.length > 60) r.lines.shift();
      let x;
      if (line.includes('Total connect time') && r.connectedAt === null) {
        r.connectedAt = now();
        // Every client sends by connect + 6 s (uclient starts each 1–6 s after connecting).
        if (r === first && o.onSteady) setTimeout(o.onSteady, 6000);
      }
      if ((x = STATS.exec(line))) {
        const s = { t: now(), sent: Number(x[1]), recv: Number(x[2]) };
        if (line.includes('msz=')) r.samples.push(s);
        else r.final.sent = s.sent, r.final.recv = s.recv, r.final.t = s.t;
      }
      if ((x = /Total transmit time is (\d+)/.exec(line))) r.final.transmitS = Number(x[1]);
      if ((x = /Total lost packets (\d+) \(([\d.]+)%\), total send dropped (\d+)/.exec(line))) {
        r.final.lost = Number(x[1]);
        r.final.lossPct = Number(x[2]);
        r.final.sendDropped = Number(x[3]);
      }
      if ((x = /Average round trip delay ([\d.]+) ms; min = (\d+) ms, max = (\d+) ms/.exec(line))) {
        r.final.rttMs = Number(x[1]);
        r.final.rttMaxMs = Number(x[3]);
      }
      if ((x = /Average jitter ([-\d.na]+) ms; min = (\d+) ms, max = (\d+) ms/.exec(line))) {
        r.final.jitterMs = Number(x[1]);
        r.final.jitterMaxMs = Number(x[3]);
      }
    };
    createInterface({ input: child.stdout }).on('line', take);
    createInterface({ input: child.stderr }).on('line', take);
    // CPU of the generator: sampled until it exits (its last ~0.2 s are idle waiting anyway).
    const iv = setInterval(() => {
      try {
        r.cpuS = cpuSeconds(child.pid);
      } catch {}
    }, 200);
    r.done = child.done.then((e) => {
      clearInterval(iv);
      r.exit = e;
      r.endedAt = now();
    });
    return r;
  });
  let dropsDuring = before.drops;
  const cpuSamples = [];
  const dropSampler = setInterval(() => {
    try {
      dropsDuring = socketDrops(server.pid, o.port);
    } catch {}
    cpuSamples.push({ t: now(), cpu: server.cpu() });
  }, 500);
  const timer = setTimeout(() => runs.forEach((r) => r.child.kill('SIGKILL')), o.timeoutMs ?? 120_000);
  try {
    await Promise.all(runs.map((r) => r.done));
  } finally {
    clearTimeout(timer);
    clearInterval(dropSampler);
  }
  const wallS = now();
  const after = { split: split(), server: server.cpu(), peer: peerCpu(), udp: udpCounters(), sys: systemCpu() };
  return summarize({ o, runs, before, after, wallS, command, dropsDuring, cpuSamples });
}

/** Sums the per-process figures and derives rates over the full-activity window. */
function summarize({ o, runs, before, after, wallS, command, dropsDuring, cpuSamples }) {
  const failed = runs.filter((r) => r.exit?.code !== 0 || r.final.recv === undefined);
  const sent = runs.reduce((a, r) => a + (r.final.sent ?? 0), 0);
  const recv = runs.reduce((a, r) => a + (r.final.recv ?? 0), 0);
  const wavg = (k) => runs.reduce((a, r) => a + (r.final[k] ?? 0) * (r.final.recv ?? 0), 0) / Math.max(1, recv);
  // Steady window: every client started (connect + 6 s) until the first uclient's sends stop
  // growing (minus 5 s, the spread of start times, so every client is still sending).
  // With one process the window is read from its 1 s samples; rates = Δrecv / Δt.
  const steady = steadyRate(runs);
  if (steady) {
    // Server CPU over the steady window, from the 0.5 s samples inside it.
    const inWin = cpuSamples.filter((x) => x.t >= steady.fromS && x.t <= steady.toS && Number.isFinite(x.cpu));
    if (inWin.length >= 2) {
      const a = inWin[0];
      const b = inWin[inWin.length - 1];
      steady.serverCpuPct = (100 * (b.cpu - a.cpu)) / (b.t - a.t);
    }
  }
  // Active window from uclient's 1 s samples: from the last sample before any message was sent
  // to the first sample at which every echo that came back had come back (± 1 s each end).
  const activeS = activeWindow(runs);
  const serverCpuS = after.server - before.server;
  const relayedPackets = 2 * recv; // each echo crossed the relay twice (client→peer, peer→client)
  // Whole machine (all processes and kernel threads), CPU-seconds over the run.
  const machineCpuS = (CORES * wallS * (after.sys.busy - before.sys.busy)) / Math.max(1, after.sys.total - before.sys.total);
  const uclientCpuS = runs.reduce((a, r) => a + r.cpuS, 0);
  return {
    server: o.serverName,
    clients: o.clients,
    procs: runs.length,
    n: o.n,
    z: o.z,
    length: o.length,
    ok: failed.length === 0,
    failures: failed.map((r) => ({ exit: r.exit, tail: r.lines.slice(-8) })),
    sent,
    recv,
    lossPct: sent ? (100 * (sent - recv)) / sent : NaN,
    rttMs: wavg('rttMs'),
    jitterMs: wavg('jitterMs'),
    rttMaxMs: Math.max(...runs.map((r) => r.final.rttMaxMs ?? NaN)),
    connectS: Math.max(...runs.map((r) => r.connectedAt ?? NaN)),
    transmitS: Math.max(...runs.map((r) => r.final.transmitS ?? NaN)),
    wallS,
    activeS,
    echoesPerSActive: recv / activeS,
    steady,
    serverCpuS,
    serverUserS: after.split.user - before.split.user,
    serverSysS: after.split.sys - before.split.sys,
    serverCpuPctActive: (100 * serverCpuS) / activeS,
    serverCpuSPer100kPackets: (serverCpuS / relayedPackets) * 1e5,
    peerCpuS: after.peer - before.peer,
    uclientCpuS,
    machineCpuS,
    rcvbufErrors: after.udp.RcvbufErrors - before.udp.RcvbufErrors,
    serverListenerDrops: dropsDuring.listener - before.drops.listener,
    command,
  };
}

/** Seconds from the start of sending (any process) to the last echo (all processes). */
function activeWindow(runs) {
  let from = Infinity;
  let to = -Infinity;
  for (const r of runs) {
    const s = r.samples;
    const first = s.findIndex((x) => x.sent > 0);
    if (first < 0) continue;
    from = Math.min(from, first > 0 ? s[first - 1].t : r.connectedAt ?? s[first].t - 1);
    const finalRecv = r.final.recv ?? s[s.length - 1].recv;
    to = Math.max(to, (s.find((x) => x.recv >= finalRecv) ?? { t: r.final.t ?? r.endedAt }).t);
  }
  return to > from ? to - from : NaN;
}

/** Δrecv/Δt and Δsent/Δt over the window when every client of every uclient process is sending. */
function steadyRate(runs) {
  let from = -Infinity;
  let to = Infinity;
  for (const r of runs) {
    if (r.connectedAt === null || r.samples.length < 2) return null;
    const total = r.final.sent ?? r.samples[r.samples.length - 1].sent;
    const lastGrowing = r.samples.find((s) => s.sent >= total)?.t ?? r.samples[r.samples.length - 1].t;
    from = Math.max(from, r.connectedAt + 6);
    to = Math.min(to, lastGrowing - 5);
  }
  if (!(to - from >= 1.5)) return null;
  let sent = 0;
  let recv = 0;
  let span = 0;
  for (const r of runs) {
    const inWin = r.samples.filter((s) => s.t >= from && s.t <= to);
    if (inWin.length < 2) return null;
    const a = inWin[0];
    const b = inWin[inWin.length - 1];
    sent += (b.sent - a.sent) / (b.t - a.t);
    recv += (b.recv - a.recv) / (b.t - a.t);
    span = Math.max(span, b.t - a.t);
  }
  return { fromS: from, toS: to, spanS: span, sentPerS: sent, echoesPerS: recv };
}

export { sleep };
