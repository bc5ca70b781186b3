/**
 * Starts a STUN/TURN server from a resolved configuration: the sans-I/O core, its Node adapter
 * and its metrics. `dari turn` (command.ts) and `dari serve` (embedded.ts) both start theirs here.
 */
import type { Registry } from 'prom-client';
import { TurnServer } from '@dari/stun';
import type { Logger } from '../logger.js';
import { TurnAdapter } from './adapter.js';
import type { ResolvedTurn } from './turn-config.js';

/**
 * Binds every listener and starts the expiry tick.
 * @param logger the root logger; the server logs through its `turn` child
 * @param registry where the `dari_turn_*` metrics go
 * @throws Error (EADDRINUSE, EADDRNOTAVAIL, …) when a listener cannot bind; nothing is left open then
 */
export async function startTurnServer(turn: ResolvedTurn, logger: Logger, registry: Registry): Promise<TurnAdapter> {
  const log = logger.child({ plane: 'turn' });
  const adapter = new TurnAdapter(new TurnServer(turn.core), turn.listen, log);
  adapter.registerMetrics(registry);
  try {
    await adapter.start();
  } catch (err) {
    await adapter.close();
    throw err;
  }
  // Expected in dev mode on loopback (two tabs relaying to each other); a risk anywhere else.
  if (turn.loopbackPeers === 'default') log.info('relaying to loopback peers is allowed (dev mode on loopback)');
  if (turn.loopbackPeers === 'configured') log.warn('relaying to loopback peers is allowed (allowLoopbackPeers / --allow-loopback-peers): for labs only');
  return adapter;
}
