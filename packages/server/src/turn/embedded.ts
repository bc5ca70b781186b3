/**
 * The STUN/TURN server embedded in `dari serve`: the same shape (turn-config.ts), core and
 * adapter as `dari turn`, with TURN REST credentials minted per participant and handed out in
 * the join's ICE servers list.
 */
import { hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Registry } from 'prom-client';
import type { IceServer } from '@dari/protocol';
import { restCredentials } from '@dari/stun';
import { ConfigError, type Config } from '../config.js';
import type { Logger } from '../logger.js';
import { firstHostAddress } from './adapter.js';
import { startTurnServer, type TurnService } from './start.js';

export interface EmbeddedTurn {
  service: TurnService;
  /** TURN over TLS shares the HTTPS port ({@link sharesHttpsPort}): the HTTPS listener hands its STUN connections over. */
  sharedTls: boolean;
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
 * `dari serve`'s TURN REST secret when `turn.secret` is not set: HKDF-SHA256 (RFC 5869) of its
 * API secrets in key order, so the credentials handed out before a restart still work after it
 * as long as the API keys stay the same (docs/configuration.md, "Restarts"). One-way: the TURN
 * credentials reveal nothing about the API secrets. 32 bytes, base64url.
 */
export function derivedTurnSecret(apiKeys: ReadonlyMap<string, string>): string {
  const material = [...apiKeys].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}\n${v}`).join('\n');
  return Buffer.from(hkdfSync('sha256', material, 'dari turn rest secret salt', 'dari turn rest secret', 32)).toString('base64url');
}

/**
 * True when TURN over TLS shares `dari serve`'s HTTPS port (`turn.tlsPort` equal to `port`, with
 * `tls` set): one TLS listener, connections told apart after the handshake (http/tls-share.ts),
 * the HTTPS certificate for both. resolveConfig refuses the other combinations.
 */
export function sharesHttpsPort(config: Config): boolean {
  return config.turn.enabled && config.tls !== undefined && config.turn.tlsPort === config.port;
}

/**
 * Starts the embedded STUN/TURN server.
 * @param tls `dari serve`'s own certificate and key (PEM contents), used for TURN over TLS unless `turn.tls` names others
 * @param loopbackDev dev mode bound to loopback: loopback peers are allowed unless `turn.allowLoopbackPeers` says otherwise
 * @param apiKeys the API keys in force: the REST secret is derived from them unless `turn.secret` is set
 * @throws ConfigError when `turn.tls` files cannot be read; Error when a listener cannot bind (e.g. EADDRINUSE on 3478)
 */
export async function startEmbeddedTurn(config: Config, tls: { cert: Buffer; key: Buffer } | undefined, loopbackDev: boolean, apiKeys: ReadonlyMap<string, string>, logger: Logger, registry: Registry): Promise<EmbeddedTurn> {
  const t = config.turn;
  const sharedTls = sharesHttpsPort(config);
  const turnTls = sharedTls ? undefined : t.tls ? { cert: readPem(t.tls.cert, 'turn.tls.cert'), key: readPem(t.tls.key, 'turn.tls.key') } : tls;
  const secret = t.secret?.[0] ?? derivedTurnSecret(apiKeys);
  const { service, resolved } = await startTurnServer(t, {
    defaultListen: [config.host === 'localhost' ? '127.0.0.1' : config.host],
    tls: turnTls,
    allowLoopbackPeersDefault: loopbackDev,
    secrets: [secret],
    hostAddress: firstHostAddress,
  }, logger, registry);
  const port = (proto: 'udp' | 'tcp' | 'tls') => service.endpoints.find((e) => e.protocol === proto)?.port;
  const host = resolved.publicAddress.includes(':') ? `[${resolved.publicAddress}]` : resolved.publicAddress;
  return {
    service,
    sharedTls,
    iceServers(identity) {
      const { username, password } = restCredentials(secret, identity, t.credentialTtlS);
      const urls: string[] = [];
      if (port('udp')) urls.push(`turn:${host}:${port('udp')}?transport=udp`);
      if (port('tcp')) urls.push(`turn:${host}:${port('tcp')}?transport=tcp`);
      if (port('tls')) urls.push(`turns:${host}:${port('tls')}?transport=tcp`);
      const stunPort = port('udp');
      return [...(stunPort ? [{ urls: `stun:${host}:${stunPort}` }] : []), { urls, username, credential: password }];
    },
    close: () => service.close(),
  };
}
