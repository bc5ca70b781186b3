/**
 * The STUN/TURN server's figures as one plain snapshot (so the workers of a sharded server can
 * send theirs to the main thread, which sums them), and the `dari_turn_*` Prometheus metrics
 * read from a snapshot source at each scrape.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { IGNORE_REASONS, newTurnCounters, type TurnCounters } from '@dari/stun';
import type { NativeCounters } from '@dari/turn-native';

/** What the native fast path did (zero on the TypeScript path). */
export interface FastPathFigures {
  bindings: number;
  deferred: number;
  recvCalls: number;
  recvDatagrams: number;
  sendCalls: number;
  sendDatagrams: number;
  sendErrors: number;
}

export interface TurnSnapshot {
  /** Workers (or the one in-process server) by data path. */
  workers: { native: number; typescript: number };
  allocations: number;
  permissions: number;
  channels: number;
  /** The core's counters plus the fast path's (relayed packets and bytes, ignored by reason). */
  counters: TurnCounters;
  authFailures: Record<string, number>;
  quotaRejections: Record<string, number>;
  peerDenied: number;
  allocationsCreated: number;
  fastPath: FastPathFigures;
}

const FAST_PATH_KEYS = ['bindings', 'deferred', 'recvCalls', 'recvDatagrams', 'sendCalls', 'sendDatagrams', 'sendErrors'] as const;

export function emptySnapshot(): TurnSnapshot {
  return {
    workers: { native: 0, typescript: 0 },
    allocations: 0,
    permissions: 0,
    channels: 0,
    counters: newTurnCounters(),
    authFailures: {},
    quotaRejections: {},
    peerDenied: 0,
    allocationsCreated: 0,
    fastPath: { bindings: 0, deferred: 0, recvCalls: 0, recvDatagrams: 0, sendCalls: 0, sendDatagrams: 0, sendErrors: 0 },
  };
}

const addRecord = (into: Record<string, number>, from: Record<string, number>): void => {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
};

/** Adds `b` into `a` (workers' snapshots summed). */
export function addSnapshot(a: TurnSnapshot, b: TurnSnapshot): TurnSnapshot {
  a.workers.native += b.workers.native;
  a.workers.typescript += b.workers.typescript;
  a.allocations += b.allocations;
  a.permissions += b.permissions;
  a.channels += b.channels;
  a.counters.toPeerPackets += b.counters.toPeerPackets;
  a.counters.toPeerBytes += b.counters.toPeerBytes;
  a.counters.toClientPackets += b.counters.toClientPackets;
  a.counters.toClientBytes += b.counters.toClientBytes;
  addRecord(a.counters.ignored, b.counters.ignored);
  addRecord(a.authFailures, b.authFailures);
  addRecord(a.quotaRejections, b.quotaRejections);
  a.peerDenied += b.peerDenied;
  a.allocationsCreated += b.allocationsCreated;
  for (const k of FAST_PATH_KEYS) a.fastPath[k] += b.fastPath[k];
  return a;
}

/** Adds the addon's counters to a snapshot taken from the core. */
export function addNative(s: TurnSnapshot, n: NativeCounters): void {
  s.counters.toPeerPackets += n.toPeerPackets;
  s.counters.toPeerBytes += n.toPeerBytes;
  s.counters.toClientPackets += n.toClientPackets;
  s.counters.toClientBytes += n.toClientBytes;
  addRecord(s.counters.ignored, n.ignored);
  for (const k of FAST_PATH_KEYS) s.fastPath[k] += n[k];
}

/**
 * Registers the `dari_turn_*` metrics (docs/turn.md, "Logs and metrics"), each read from
 * `source` at scrape time; one snapshot serves a whole scrape.
 */
export function registerTurnMetrics(registry: Registry, source: () => TurnSnapshot | Promise<TurnSnapshot>): void {
  let cached: { at: number; value: Promise<TurnSnapshot> } | undefined;
  const snap = (): Promise<TurnSnapshot> => {
    const now = Date.now();
    if (!cached || now - cached.at > 100) cached = { at: now, value: Promise.resolve(source()) };
    return cached.value;
  };
  const gauge = (name: string, help: string, pick: (s: TurnSnapshot) => number) =>
    new Gauge({ name, help, registers: [registry], async collect() { this.set(pick(await snap())); } });
  gauge('dari_turn_allocations', 'Live TURN allocations', (s) => s.allocations);
  gauge('dari_turn_permissions', 'Live TURN permissions', (s) => s.permissions);
  gauge('dari_turn_channels', 'Live TURN channel bindings', (s) => s.channels);
  new Gauge({
    name: 'dari_turn_workers',
    help: 'STUN/TURN workers by data path: native (the C fast path) or typescript',
    labelNames: ['path'],
    registers: [registry],
    async collect() {
      const s = await snap();
      this.set({ path: 'native' }, s.workers.native);
      this.set({ path: 'typescript' }, s.workers.typescript);
    },
  });
  /** A counter mirrored from the snapshot: reset, then set to the totals, by label. */
  const mirrored = (name: string, help: string, label: string, pick: (s: TurnSnapshot) => Record<string, number>) =>
    new Counter({
      name,
      help,
      labelNames: label ? [label] : [],
      registers: [registry],
      async collect() {
        const values = pick(await snap());
        this.reset();
        for (const [k, v] of Object.entries(values)) {
          if (label) this.inc({ [label]: k }, v);
          else this.inc(v);
        }
      },
    });
  mirrored('dari_turn_relayed_packets_total', 'Packets relayed, by direction', 'direction', (s) => ({ to_peer: s.counters.toPeerPackets, to_client: s.counters.toClientPackets }));
  mirrored('dari_turn_relayed_bytes_total', 'Payload bytes relayed, by direction', 'direction', (s) => ({ to_peer: s.counters.toPeerBytes, to_client: s.counters.toClientBytes }));
  mirrored('dari_turn_ignored_total', 'Inputs dropped without an answer, by reason (docs/turn.md, "Logs and metrics")', 'reason', (s) => Object.fromEntries(IGNORE_REASONS.map((r) => [r, s.counters.ignored[r]])));
  mirrored('dari_turn_auth_failures_total', 'Authentication failures, by reason', 'reason', (s) => s.authFailures);
  mirrored('dari_turn_quota_rejections_total', 'Requests refused by a quota, by scope', 'scope', (s) => s.quotaRejections);
  mirrored('dari_turn_peer_denied_total', 'Permissions or channels refused by the peer address policy', '', (s) => ({ '': s.peerDenied }));
  mirrored('dari_turn_allocations_total', 'Allocations created', '', (s) => ({ '': s.allocationsCreated }));
  mirrored('dari_turn_native_bindings_total', 'Binding requests answered by the native fast path', '', (s) => ({ '': s.fastPath.bindings }));
  mirrored('dari_turn_native_deferred_total', 'Datagrams the native fast path handed to the TypeScript core', '', (s) => ({ '': s.fastPath.deferred }));
  mirrored('dari_turn_native_datagrams_total', 'Datagrams the native fast path received and sent', 'op', (s) => ({ recv: s.fastPath.recvDatagrams, send: s.fastPath.sendDatagrams }));
  mirrored('dari_turn_native_syscalls_total', 'recvmmsg and sendmmsg calls of the native fast path (datagrams per call = batch size)', 'op', (s) => ({ recvmmsg: s.fastPath.recvCalls, sendmmsg: s.fastPath.sendCalls }));
  mirrored('dari_turn_native_send_errors_total', 'Datagrams the kernel refused to the native fast path (full buffer, too large)', '', (s) => ({ '': s.fastPath.sendErrors }));
}
