/**
 * `dari serve`: one process with HTTP(S), WebSocket signaling, the embedded STUN/TURN server,
 * the SFU and metrics. {@link startServer} binds every listener and resolves once all are bound.
 */
import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { readFileSync } from 'node:fs';
import type { AddressInfo, Socket } from 'node:net';
import { ConfigError, type Resolved } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics } from './metrics.js';
import { createRoutes } from './http/routes.js';
import { runRoomApi, serveForwarded } from './http/room-api.js';
import { SignalingAdapter } from './signaling/ws-adapter.js';
import { RESTORE_WINDOW_MS, defaultStateFile, takeStateFile, writeStateFile } from './signaling/state-file.js';
import { startEmbeddedTurn, type EmbeddedTurn } from './turn/embedded.js';
import { SHARED_ALPN, shareTlsPort } from './http/tls-share.js';
import { SfuManager } from '@dari/sfu';
import { WhipService } from './http/whip.js';
import { WhepService } from './http/whep.js';
import { IngressManager } from './ingress/ingress-manager.js';
import { ClusterRouter } from './cluster/router.js';
import { LINK_PATH } from '@dari/cluster';
import { TrackInfo } from '@dari/protocol';
import { checkGStreamer, type GStreamerStatus } from '@dari/media';
import { EgressManager } from './egress/egress-manager.js';
import { WorkerBudget } from './egress/egress-types.js';
import { defaultRecordingDir } from './egress/recording-dir.js';
import { McuManager } from './mcu/mcu-manager.js';
import { FallbackManager } from './mcu/fallback-manager.js';
import type { RoomPolicy } from './signaling/core.js';

/** A listener could not bind; the message names the port and the config key. */
export class ListenError extends Error {
  override readonly name = 'ListenError';
}

/** Path of the signaling WebSocket endpoint. */
export const SIGNALING_PATH = '/rtc';

export interface RunningServer {
  /** The embedded STUN/TURN server, when enabled. */
  turn: EmbeddedTurn | undefined;
  /** The SFU (rooms in `sfu` mode). */
  sfu: SfuManager;
  /** Base URL of the HTTP plane, e.g. http://127.0.0.1:7880 */
  url: string;
  /** Signaling WebSocket URL, e.g. ws://127.0.0.1:7880/rtc */
  wsUrl: string;
  port: number;
  signaling: SignalingAdapter;
  logger: Logger;
  /** Scale-out (redis.url): this node's cluster membership and router. */
  cluster: ClusterRouter | undefined;
  /** Recording (`/api/egress`). */
  egress: EgressManager;
  /** The composites of `mcu` rooms. */
  mcu: McuManager;
  /** The composites of SFU rooms for their subscribers in the composite fallback. */
  fallback: FallbackManager;
  /**
   * Whether GStreamer can run the MCU and recording (checked once, on first call: `dari serve`
   * asks right after start and logs what to install when it cannot).
   */
  media(): Promise<GStreamerStatus>;
  /**
   * Scale-out: drains (no new rooms; rooms go on until they empty or `cluster.drainTimeoutS`,
   * then move to other nodes). Resolves when nothing is left here; then call close().
   */
  drain(timeoutS?: number): Promise<void>;
  /** Tells clients, closes every socket; resolves when all listeners are closed. */
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
 * Starts every listener of `dari serve`.
 * @throws ConfigError when TLS files cannot be read; ListenError when the STUN/TURN port cannot
 *   be bound; Error (EADDRINUSE …) when the HTTP port cannot be bound
 */
export async function startServer(resolved: Resolved, logger: Logger = createLogger(resolved.config.log.level, { format: resolved.config.log.format })): Promise<RunningServer> {
  const { config } = resolved;
  const tls = config.tls ? { cert: readPem(config.tls.cert, 'tls.cert'), key: readPem(config.tls.key, 'tls.key') } : undefined;
  if (resolved.devMode) {
    const warn = !resolved.loopbackOnly;
    logger[warn ? 'warn' : 'info'](
      { apiKey: 'devkey' },
      warn
        ? `DEV MODE ON A NON-LOOPBACK ADDRESS (${config.host}): anyone who can reach it can mint tokens with the public dev key. Configure keys for real use.`
        : 'dev mode: no API keys configured; using the documented dev key (devkey)',
    );
  }
  let signaling: SignalingAdapter | undefined;
  let sfuRef: SfuManager | undefined;
  const metrics = createMetrics(() => signaling?.core.stats() ?? { connections: 0, rooms: 0, participants: 0 }, () => sfuRef!.metrics());
  let turn: EmbeddedTurn | undefined;
  if (config.turn.enabled) {
    try {
      turn = await startEmbeddedTurn(config, tls, resolved.devMode && resolved.loopbackOnly, resolved.keys, logger, metrics.registry);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new ListenError(`STUN/TURN on port ${config.turn.port} (turn.port): ${e.code ?? e.message}; set turn.port, or turn.enabled=false`, { cause: err });
    }
  }
  const sfuAddresses = config.sfu.announcedAddresses ?? (config.host === '0.0.0.0' || config.host === '::' ? [] : [config.host === 'localhost' ? '127.0.0.1' : config.host]);
  const { stopAfterMs, ...compositeFallback } = config.sfu.compositeFallback;
  let fallbackRef: FallbackManager | undefined;
  const sfu = new SfuManager({
    announcedAddresses: sfuAddresses,
    logger: logger.child({ plane: 'sfu' }),
    send: (room, identity, sid, message) => signaling?.sendToParticipant(room, identity, sid, message),
    core: { compositeFallback },
    onCompositeFallback: (room, event) => fallbackRef?.event(room, event),
  });
  sfuRef = sfu;
  const cluster = config.redis.url
    ? new ClusterRouter({
        redisUrl: config.redis.url,
        keyPrefix: config.cluster.keyPrefix,
        nodeId: config.cluster.nodeId,
        addresses: sfuAddresses,
        selector: config.cluster.selector,
        placementCpu: config.cluster.placementCpu,
        heartbeatIntervalMs: config.cluster.heartbeatIntervalMs,
        nodeTtlMs: config.cluster.nodeTtlMs,
        secrets: [...resolved.keys.values()],
        joinTimeoutMs: config.signaling.joinTimeoutMs,
        reconnectGraceMs: config.signaling.reconnectGraceMs,
        logger,
      })
    : undefined;
  if (cluster) metrics.registerCluster(() => cluster.sample());
  // `joined.node` names this process (one node too): a client that resumes on a restarted server
  // sees it change and sets its SFU legs up again, as after a move to another node.
  const nodeId = cluster?.id ?? `ND_${randomBytes(6).toString('hex')}`;
  // One node: rooms saved by a graceful stop come back (signaling/state-file.ts).
  const stateFile = cluster ? undefined : config.signaling.stateFile === undefined ? defaultStateFile(config.host, config.port) : config.signaling.stateFile || undefined;
  let gstreamer: Promise<GStreamerStatus> | undefined;
  const media = () => (gstreamer ??= checkGStreamer(config.mcu.python));
  const budget = new WorkerBudget(config.mcu.maxWorkers);
  const composite = { width: config.mcu.width, height: config.mcu.height, fps: config.mcu.fps, maxBitrateBps: config.mcu.maxBitrateBps };
  const nameOf = (room: string, identity: string) => signaling?.core.roomInfo(room)?.find((p) => p.identity === identity)?.name || undefined;
  let egressRef: EgressManager | undefined;
  const mcu = new McuManager({
    sfu,
    gstreamer: media,
    budget,
    composite,
    python: config.mcu.python,
    browsers: (room) => signaling?.core.roomInfo(room)?.length ?? 0,
    nameOf,
    tell: (room, message, identity) => {
      for (const p of signaling?.core.roomInfo(room) ?? []) if (identity === undefined || p.identity === identity) signaling?.sendToParticipant(room, p.identity, p.sid, message);
    },
    logger,
  });
  const fallback = new FallbackManager({
    sfu,
    gstreamer: media,
    budget,
    composite,
    python: config.mcu.python,
    nameOf,
    send: (room, identity, sid, message) => signaling?.sendToParticipant(room, identity, sid, message),
    isMcuRoom: (room) => mcu.get(room) !== undefined || signaling?.core.roomPolicy(room) === 'mcu',
    stopAfterMs,
    counted: () => metrics.compositeFallbacks.inc(),
    logger,
  });
  fallbackRef = fallback;
  signaling = new SignalingAdapter({
    pingIntervalMs: config.signaling.pingIntervalMs,
    router: cluster,
    keys: resolved.keys,
    logger,
    metrics,
    // mcu rooms: the composite starts with the first browser's SFU membership, stops after the last.
    sfu: {
      join: (room, identity, sid) => {
        if (signaling?.core.roomPolicy(room) === 'mcu') mcu.ensure(room);
        sfu.join(room, identity, sid);
        mcu.joined(room, identity);
      },
      leave: (room, identity) => {
        sfu.leave(room, identity);
        mcu.left(room);
        egressRef?.roomLeft(room);
      },
      message: (room, identity, message) => sfu.message(room, identity, message),
      trackSettings: (room, identity, publisher, streamId, width, height) => sfu.trackSettings(room, identity, publisher, streamId, width, height),
    },
    core: { ...config.signaling, node: nodeId, roomPolicy: (room) => config.sfu.rooms[room] ?? config.sfu.mode, iceServers: (identity) => [...config.rtc.iceServers, ...(turn?.iceServers(identity) ?? [])] },
  });
  if (stateFile) restoreRooms(signaling, stateFile, config.signaling.reconnectGraceMs, logger);
  const adapter = signaling;
  // WHIP publishers and WHEP viewers: on the room's node; in a cluster other nodes pass their requests on (http/session-routing.ts).
  const iceServers = (identity: string) => [...config.rtc.iceServers, ...(turn?.iceServers(identity) ?? [])];
  const whip = new WhipService({ keys: resolved.keys, signaling, sfu, iceServers, logger });
  const whep = new WhepService({ keys: resolved.keys, sfu, iceServers, logger });
  // Cameras run on their room's node; in a cluster, calls reach it from any node (http/room-api.ts).
  const ingress = new IngressManager({ signaling, sfu, logger, retry: config.ingressRetry, onLeft: (room) => egressRef?.roomLeft(room) });
  const setRoomPolicy = (room: string, policy: RoomPolicy) => {
    adapter.setRoomPolicy(room, policy);
    if (policy !== 'mcu') void mcu.stop(room);
    else {
      // An mcu room has its own composite: a fallback composite gives way.
      void fallback.stop(room);
      if ((adapter.core.roomInfo(room)?.length ?? 0) > 0) mcu.ensure(room);
    }
  };
  const egress = new EgressManager({
    sfu,
    rooms: {
      participants: (room) => adapter.core.roomInfo(room),
      policy: (room) => adapter.core.roomPolicy(room),
      setPolicy: setRoomPolicy,
      setRecording: (room, active) => adapter.setRecording(room, active),
    },
    dir: config.recording.dir ?? defaultRecordingDir(),
    gstreamer: media,
    budget,
    composite,
    python: config.mcu.python,
    logger,
    keepEnded: config.recording.keepEnded,
    keepEndedMs: config.recording.keepEndedS * 1000,
  });
  egressRef = egress;
  metrics.registerEgress(() => egress.counts(), () => ({ mcuRooms: mcu.size, workers: budget.inUse, fallbackSubscribers: sfu.compositeFallbacks(), fallbackComposites: fallback.size }));
  cluster?.onApi((call) => serveForwarded({ ingress, egress }, call));
  const handler = createRoutes({ keys: resolved.keys, devMode: resolved.devMode, core: signaling.core, setRoomPolicy, cluster, metrics, logger, whip, whep, ingress, egress, mcu });
  const server: Server = tls ? createHttpsServer(turn?.sharedTls ? { ...tls, ALPNProtocols: SHARED_ALPN } : tls, handler) : createHttpServer(handler);
  // TURN over TLS on the HTTPS port (turn.tlsPort = port): STUN connections go to the TURN adapter.
  let takeTurnTls: ((socket: Socket) => void) | undefined;
  if (turn?.sharedTls) shareTlsPort(server as HttpsServer, (socket) => (takeTurnTls ? takeTurnTls(socket) : socket.destroy()));
  const sig = signaling;
  server.on('upgrade', (req, socket, head) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (path === SIGNALING_PATH) sig.handleUpgrade(req, socket, head);
    else if (path === LINK_PATH && cluster) cluster.links.handleUpgrade(req, socket, head);
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => {
      sig.shutdown();
      void turn?.close();
      reject(err);
    });
    server.listen(config.port, config.host, () => {
      server.removeAllListeners('error');
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  if (turn?.sharedTls) takeTurnTls = turn.service.acceptSharedTls({ protocol: 'tls', address: config.host === 'localhost' ? '127.0.0.1' : config.host, port });
  const hostForUrl = config.host.includes(':') ? `[${config.host}]` : config.host;
  const url = `${tls ? 'https' : 'http'}://${hostForUrl}:${port}`;
  const wsUrl = `${tls ? 'wss' : 'ws'}://${hostForUrl}:${port}${SIGNALING_PATH}`;
  if (cluster) {
    const turnPort = turn?.service.endpoints.find((e) => e.protocol === 'udp')?.port ?? null;
    await cluster.start(sig, config.cluster.nodeUrl ?? url, { http: port, turn: turnPort });
  }
  for (const [i, camera] of config.ingress.entries()) {
    // In a cluster every node has the same list: the room's node adds each camera once, the
    // others' calls end 409 IDENTITY_TAKEN.
    runRoomApi({ ingress, egress, cluster }, { action: 'ingress-add', body: camera }).catch((err: unknown) => logger.warn({ key: `ingress.${i}`, err: (err as Error).message }, 'camera from the config not added'));
  }
  let closing: Promise<void> | undefined;
  let draining: Promise<void> | undefined;
  return {
    turn,
    sfu,
    url,
    wsUrl,
    port,
    signaling: sig,
    logger,
    cluster,
    egress,
    mcu,
    fallback,
    media,
    drain(timeoutS = config.cluster.drainTimeoutS) {
      draining ??= cluster ? cluster.drain(timeoutS) : Promise.resolve();
      return draining;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        // Recordings first: their files are finalized while the SFU still forwards.
        void Promise.all([egress.shutdown(), mcu.close(), fallback.close()]).then(() => {
          whip?.close();
          whep?.close();
          ingress?.close();
          sig.shutdown(stateFile && saveRooms(sig, stateFile, nodeId, logger) ? 'reconnect' : 'server-shutdown');
          const closedHttp = new Promise<void>((r) => server.close(() => r()));
          server.closeAllConnections();
          void Promise.all([closedHttp, turn?.close(), sfu.close(), cluster?.close()]).then(() => resolve());
        });
      });
      return closing;
    },
  };
}

/** Adopts the rooms a graceful stop saved (see signaling/state-file.ts). */
function restoreRooms(signaling: SignalingAdapter, path: string, graceMs: number, logger: Logger): void {
  const taken = takeStateFile(path, Date.now(), graceMs + RESTORE_WINDOW_MS);
  if (taken.kind === 'discarded') logger.warn({ file: path, why: taken.why }, 'room state file discarded');
  if (taken.kind !== 'rooms') return;
  let participants = 0;
  for (const snap of taken.state.rooms) {
    const tracks = (list: unknown[]) => list.flatMap((t) => {
      const r = TrackInfo.safeParse(t);
      return r.success ? [r.data] : [];
    });
    const room = { room: snap.room, policy: snap.policy, participants: snap.participants.map((p) => ({ ...p, tracks: tracks(p.tracks) })) };
    participants += room.participants.length;
    // The grace runs from now, the return: clients could not reconnect while the server was down.
    signaling.run(signaling.core.adoptRoom(room, Date.now()));
  }
  logger.info({ file: path, rooms: taken.state.rooms.length, participants, downMs: Date.now() - taken.state.at }, 'rooms restored after a restart; participants have their reconnect grace from now to resume');
}

/** Saves every room for the next start. @returns false when there was nothing to save or it failed */
function saveRooms(signaling: SignalingAdapter, path: string, node: string, logger: Logger): boolean {
  const at = Date.now();
  const rooms = signaling.core.roomNames().flatMap((room) => {
    const s = signaling.core.snapshotRoom(room);
    return s ? [{ room, node, policy: s.policy, mode: s.mode, at, participants: s.participants.map(({ state: _state, ...p }) => p) }] : [];
  });
  if (rooms.length === 0) return false;
  try {
    writeStateFile(path, { version: 1, node, at, rooms });
    logger.info({ file: path, rooms: rooms.length }, 'rooms saved for a restart; clients are told to reconnect');
    return true;
  } catch (err) {
    logger.warn({ file: path, err: (err as Error).message }, 'cannot save the rooms for a restart (signaling.stateFile)');
    return false;
  }
}
