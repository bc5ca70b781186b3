/**
 * The STUN/TURN server embedded in `dari serve`: the same shape (turn-config.ts), core and
 * adapter as `dari turn`, with TURN REST credentials minted per participant and handed out in
 * the join's ICE servers list.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Registry } from 'prom-client';
import type { IceServer } from '@dari/protocol';
import { restCredentials } from '@dari/stun';
import { ConfigError, type Config } from '../config.js';
import type { Logger } from '../logger.js';
import { firstHostAddress, type TurnAdapter } from './adapter.js';
import { startTurnServer } from './start.js';
import { resolveTurnConfig } from './turn-config.js';

export interface EmbeddedTurn {
  adapter: TurnAdapter;
  /** ICE servers for one participant: STUN, and TURN over UDP/TCP(/TLS) with fresh credentials. */
  iceServers(identity: string): IceServer[];
  close(): Promise<void>;
}

function readPem(path: string, key: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(key, `cannot read ${path}: ${(err as Error).message}`);
  }
}

/**
 * Starts the embedded STUN/TURN server.
 * @param tls `dari serve`'s own certificate and key (PEM contents), used for TURN over TLS unless `turn.tls` names others
 * @param loopbackDev dev mode bound to loopback: loopback peers are allowed unless `turn.allowLoopbackPeers` says otherwise
 * @throws ConfigError when `turn.tls` files cannot be read; Error when a listener cannot bind (e.g. EADDRINUSE on 3478)
 */
export async function startEmbeddedTurn(config: Config, tls: { cert: Buffer; key: Buffer } | undefined, loopbackDev: boolean, logger: Logger, registry: Registry): Promise<EmbeddedTurn> {
  const t = config.turn;
  const turnTls = t.tls ? { cert: readPem(t.tls.cert, 'turn.tls.cert'), key: readPem(t.tls.key, 'turn.tls.key') } : tls;
  const secret = t.secret?.[0] ?? randomBytes(24).toString('base64url');
  const resolved = resolveTurnConfig(t, {
    defaultListen: [config.host === 'localhost' ? '127.0.0.1' : config.host],
    tls: turnTls,
    allowLoopbackPeersDefault: loopbackDev,
    secrets: [secret],
    hostAddress: firstHostAddress,
  });
  const adapter = await startTurnServer(resolved, logger, registry);
  const port = (proto: 'udp' | 'tcp' | 'tls') => adapter.endpoints.find((e) => e.protocol === proto)?.port;
  const host = resolved.publicAddress.includes(':') ? `[${resolved.publicAddress}]` : resolved.publicAddress;
  return {
    adapter,
    iceServers(identity) {
      const { username, password } = restCredentials(secret, identity, t.credentialTtlS);
      const urls: string[] = [];
      if (port('udp')) urls.push(`turn:${host}:${port('udp')}?transport=udp`);
      if (port('tcp')) urls.push(`turn:${host}:${port('tcp')}?transport=tcp`);
      if (port('tls')) urls.push(`turns:${host}:${port('tls')}?transport=tcp`);
      const stunPort = port('udp');
      return [...(stunPort ? [{ urls: `stun:${host}:${stunPort}` }] : []), { urls, username, credential: password }];
    },
    close: () => adapter.close(),
  };
}
