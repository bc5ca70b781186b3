/**
 * The shapes of {@link CompositeMixer} (composite.ts), next to it as mediasoup keeps
 * `ProducerTypes.ts` beside `Producer.ts`: its options with units and defaults, input ports,
 * outputs, stats and events; and the desired state it keeps for replaying into a restarted worker.
 */
import type { MediaLogger } from './logger.js';
import type { RestartPolicyOptions } from './restart-policy.js';
import type { WorkerExit } from './worker-process.js';

export interface CompositeOptions {
  /** Output size, px (even numbers). Default 640×360. */
  width?: number;
  height?: number;
  /** Output frame rate, frames/s. Default 15. */
  fps?: number;
  /** Encoder ceiling, bps (REMB-driven `setBitrate` never exceeds it). Default 1500000. */
  maxBitrateBps?: number;
  /** Encoder start bitrate, bps. Default min(800000, maxBitrateBps). */
  bitrateBps?: number;
  /** RTP payload types of the inputs and outputs. Default 96 (VP8) and 111 (Opus). */
  videoPt?: number;
  audioPt?: number;
  /** Jitter buffer of each input, ms. Default 50. */
  latencyMs?: number;
  python?: string;
  logger?: MediaLogger;
  restart?: RestartPolicyOptions;
  /** Command timeout, ms. Default 5000. */
  commandTimeoutMs?: number;
  /** Heartbeat period, ms. Default 2000. */
  heartbeatMs?: number;
}

/** Where the worker listens for a participant's RTP (loopback UDP ports). */
export interface InputPorts {
  video?: number;
  audio?: number;
}

/** What the composite sends where: `video` the grid, `audio` a participant's N−1 mix, `mix` everyone (recording). */
export type OutputKind = 'video' | 'audio' | 'mix';

export interface OutputSpec {
  kind: OutputKind;
  /** For `audio`: whose N−1 mix. */
  participant?: string;
  /** Loopback UDP port to send RTP to. */
  port: number;
  /** SSRC of the stream; default one random per stream, kept across worker restarts. */
  ssrc?: number;
}

export interface CompositeStats {
  /** Composite frames encoded since the worker (re)started. */
  frames: number;
  bitrateBps: number;
  speaker: string | null;
  participants: Record<string, { videoPackets: number; videoFrames: number; audioPackets: number; videoPort: number | null; audioPort: number | null; tile: number[] | null }>;
}

export interface CompositeEvents {
  /** The worker needs a keyframe from this participant's video (send the publisher a PLI). */
  keyframeNeeded: (participant: string) => void;
  /** One input failed inside the worker and was dropped (the rest of the room goes on). */
  inputError: (info: { participant: string; kind: string; reason: string }) => void;
  /** After a restart: the participant's new input ports. */
  portsChanged: (participant: string, ports: InputPorts) => void;
  /** The worker died; a restart follows unless `failed` comes. */
  crashed: (exit: WorkerExit) => void;
  /** A restarted worker has the whole state again. */
  restarted: () => void;
  /** No more restarts: the composite is gone. */
  failed: (reason: string) => void;
}

/** A participant as the mixer wants it (replayed after a restart). Internal. */
export interface ParticipantState {
  name: string;
  video: boolean;
  audio: boolean;
  ports: InputPorts;
}

/** An output as the mixer wants it. Internal. */
export interface OutputState extends OutputSpec {
  ssrc: number;
  /** The worker's id of this output in the live process. */
  workerId?: string;
}

/** A queued command. Internal. */
export interface Op {
  version: number;
  run: () => Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Defaults of {@link CompositeOptions}. */
export const COMPOSITE_DEFAULTS = { width: 640, height: 360, fps: 15, maxBitrateBps: 1_500_000, videoPt: 96, audioPt: 111, latencyMs: 50 };

/** The lowest bitrate the composite's encoder is set to, bps (setBitrate clamps to it; worker/composite.py repeats it). */
export const MIN_COMPOSITE_BITRATE_BPS = 50_000;
