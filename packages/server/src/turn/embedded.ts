/**
 * The STUN/TURN server embedded in `dari serve`: the same core and adapter as `dari turn`, with
 * REST API credentials minted per participant and handed out in the join's ICE servers list.
 */
import { randomBytes } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { IceServer } from '@dari/protocol';
import { NonceIssuer, PeerPolicy, TurnServer, restCredentials } from '@dari/stun';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { TurnAdapter, firstExternalIpv4 } from './adapter.js';

export interface EmbeddedTurn {
  adapter: TurnAdapter;
  /** ICE servers for one participant: STUN, and TURN over UDP/TCP(/TLS) with fresh credentials. */
  iceServers(identity: string): IceServer[];
  close(): Promise<void>;
}


/**
 * Starts the embedded STUN/TURN server.
 * @param loopbackDev dev mode bound to loopback: loopback peers are allowed (and logged)
 * @throws Error when a listener cannot bind (e.g. EADDRINUSE on 3478)
 */
export async function startEmbeddedTurn(config: Config, tls: { cert: Buffer; key: Buffer } | undefined, loopbackDev: boolean, logger: Logger, registry: Registry): Promise<EmbeddedTurn> {
  const t = config.turn;
  const wildcard = config.host === '0.0.0.0' || config.host === '::';
  const listen = t.listenAddress ?? (config.host === 'localhost' ? '127.0.0.1' : config.host);
  const relayAddress = wildcard && !t.listenAddress ? firstExternalIpv4() ?? '127.0.0.1' : listen;
  const advertised = t.externalIp ?? relayAddress;
  const secret = t.secret ?? randomBytes(24).toString('base64url');
  const allowLoopback = t.allowLoopbackPeers ?? loopbackDev;
  if (allowLoopback) logger.child({ plane: 'turn' }).info('relaying to loopback peers is allowed (dev mode on loopback, or turn.allowLoopbackPeers)');
  const v6 = listen.includes(':');
  const alternate = t.alternateIp ? { address: t.alternateIp, port: t.alternatePort ?? t.port + 1 } : undefined;
  const core = new TurnServer({
    realm: t.realm,
    authSecrets: [secret],
    relayAddresses: v6 ? { v6: relayAddress } : { v4: relayAddress },
    externalAddresses: t.externalIp ? new Map([[relayAddress, t.externalIp]]) : new Map(),
    minPort: t.minPort,
    maxPort: t.maxPort,
    userQuota: t.userQuota,
    totalQuota: t.totalQuota,
    maxBps: t.maxBps,
    peerPolicy: new PeerPolicy({ allowLoopback, allowed: t.allowedPeerIps, denied: t.deniedPeerIps }),
    nonces: new NonceIssuer(),
    otherAddress: alternate,
  });
  const adapter = new TurnAdapter(core, { addresses: [listen], port: t.port, udp: t.udp, tcp: t.tcp, tls: tls ? { port: t.tlsPort, ...tls } : undefined, alternate }, logger);
  adapter.registerMetrics(registry);
  await adapter.start();
  const port = (proto: 'udp' | 'tcp' | 'tls') => adapter.endpoints.find((e) => e.protocol === proto)?.port;
  const host = advertised.includes(':') ? `[${advertised}]` : advertised;
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
