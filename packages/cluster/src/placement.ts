/**
 * Room placement: which node a new room goes to. Pure functions over the live node list (no
 * Redis, no clock of their own); the atomic "first placement wins" step is in store.ts.
 *
 * Selectors (config `cluster.selector`, docs/scaling.md):
 * - `least-loaded` (default): the serving node with the fewest participants, then the fewest
 *   rooms, then (unless `cpu` is false) the lowest CPU in 10 % steps (finer differences are noise); a tie goes to the node that received the join (no relay hop),
 *   then to the smallest node id, so the choice is deterministic.
 * - `local`: the node that received the join, unless it is draining (then `least-loaded`).
 * - `random`: any serving node, uniformly (`random` is injected, default Math.random).
 *
 * Draining nodes never get new rooms. A room already placed stays on its node while that node
 * is alive, whatever the selector says (LiveKit's roomallocator does the same).
 */
import type { NodeInfo } from './types.js';

export const SELECTORS = ['least-loaded', 'local', 'random'] as const;
export type Selector = (typeof SELECTORS)[number];

export interface SelectInput {
  /** Live nodes (heartbeat not expired). */
  nodes: readonly NodeInfo[];
  /** The node that received the join. */
  self: string;
  selector: Selector;
  /** Whether least-loaded compares CPU (config cluster.placementCpu); default true. */
  cpu?: boolean;
  /** Uniform in [0, 1); default Math.random. */
  random?: () => number;
}

/**
 * Chooses the node for a new room.
 * @returns the node id, or undefined when no node is serving (all draining, or none alive)
 */
export function selectNode(input: SelectInput): string | undefined {
  const serving = input.nodes.filter((n) => n.state === 'serving');
  if (serving.length === 0) return undefined;
  switch (input.selector) {
    case 'local':
      if (serving.some((n) => n.id === input.self)) return input.self;
      return leastLoaded(serving, input.self, input.cpu ?? true);
    case 'random': {
      const r = (input.random ?? Math.random)();
      return serving[Math.min(serving.length - 1, Math.floor(r * serving.length))]!.id;
    }
    case 'least-loaded':
      return leastLoaded(serving, input.self, input.cpu ?? true);
  }
}

function leastLoaded(nodes: readonly NodeInfo[], self: string, cpu: boolean): string {
  let best = nodes[0]!;
  for (const n of nodes.slice(1)) if (compare(n, best, self, cpu) < 0) best = n;
  return best.id;
}

/** Negative when `a` is the better home for a new room than `b`. */
function compare(a: NodeInfo, b: NodeInfo, self: string, cpu: boolean): number {
  return (
    a.load.participants - b.load.participants ||
    a.load.rooms - b.load.rooms ||
    (cpu ? cpuStep(a) - cpuStep(b) : 0) ||
    Number(b.id === self) - Number(a.id === self) ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
  );
}

/** CPU load in 10 % steps. */
function cpuStep(n: NodeInfo): number {
  return Math.floor(n.load.cpu * 10);
}
