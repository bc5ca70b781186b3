/**
 * Options, logger and metrics shapes of the werift adapter ({@link SfuManager}), next to it.
 */
import type { ServerMessage } from '@dari/protocol';
import type { IgnoreReason, SfuCoreOptions } from '../core/sfu-core-types.js';
import type { FallbackReason } from '../core/composite-fallback.js';

/** A browser participant goes to its room's composite video or back (the core's `composite-fallback` action). */
export interface CompositeFallbackEvent {
  identity: string;
  /** Its session id; undefined when it has left the SFU already (`reason` `left`). */
  sid: string | undefined;
  on: boolean;
  reason: FallbackReason;
  /** Its REMB estimate and its need when decided, bps (see core/composite-fallback.ts). */
  estimateBps: number | undefined;
  needBps: number;
}

/** The logging the SFU does: pino's signature (a child logger with `plane: 'sfu'` fits). */
export interface SfuLogger {
  warn(obj: object, msg?: string): void;
  warn(msg: string): void;
  info(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** Options of {@link SfuManager}. */
export interface SfuOptions {
  /** Extra host addresses werift announces in ICE (e.g. 127.0.0.1 for loopback tests, a public IP). Required; may be empty. */
  announcedAddresses: string[];
  /** UDP port range for the SFU's ICE sockets, inclusive. Default: any port. */
  portRange?: [number, number] | undefined;
  logger: SfuLogger;
  /** Sends a signaling message to a browser participant (by room, identity and sid). */
  send(room: string, identity: string, sid: string, message: ServerMessage): void;
  /** How often layer selection, dynacast and active-speaker updates run (the core's tick), ms. Default 250. */
  selectionIntervalMs?: number;
  /** Options of each room's {@link SfuCore} (policy, PLI interval, REMB rate …). Default: its defaults. */
  core?: SfuCoreOptions;
  /** Address local RTP sockets bind to and accept from. Default `127.0.0.1` (loopback only). */
  localRtpAddress?: string;
  /**
   * A browser subscriber goes to the room's composite or back (core/composite-fallback.ts): the
   * owner starts the room's composite (a `mixer` publishing `dari-composite`) for the first and
   * stops it after the last. Default: nothing (the subscriber keeps its videos).
   */
  onCompositeFallback?(room: string, event: CompositeFallbackEvent): void;
}

/** The SFU's totals since start. */
export interface SfuCounters {
  forwardedPackets: number;
  /** RTP header (12 bytes) and payload, before SRTP. */
  forwardedBytes: number;
  /** Keyframe requests (PLI or FIR) received from subscribers / PLIs sent to publishers (after the 1 per second per layer limit). */
  pliReceived: number;
  pliSent: number;
  /** NACKs received from subscribers (werift retransmits from its send cache) and sent to publishers. */
  nackReceived: number;
  nackSent: number;
  /** Kept keyframes replayed to new subscribers (sources that cannot make one on request). */
  keyframeReplays: number;
  /** Inputs the SFU core dropped, by reason. */
  ignored: Partial<Record<IgnoreReason, number>>;
}

/** What the SFU reports at scrape time ({@link SfuManager.metrics}). */
export interface SfuMetricsSample extends SfuCounters {
  rooms: number;
  /** SFU participants (browsers with publisher and subscriber legs, and server-side participants). */
  participants: number;
  peerConnections: number;
  /** Published tracks (a simulcast track counts once). */
  publications: number;
  /** Forwarding tracks to subscribers ("down tracks"). */
  downTracks: number;
  /** Down tracks by the simulcast layer (rid; `-` without simulcast, `none` while waiting) they forward now. */
  layers: Record<string, number>;
}
