/**
 * The SFU core's vocabulary: what goes in ({@link PublicationSpec}, {@link RtpMeta}, feedback),
 * what comes out ({@link SfuAction}, forwards through a {@link ForwardSink}), and its options
 * with unit and default ({@link SfuCoreOptions}). The class is in sfu-core.ts.
 */
import type { AudioCodecHooks, VideoCodecHooks } from '../rtp/codec.js';
import type { AudioLevel } from '../rtp/audio-level.js';
import type { ActiveSpeaker, ActiveSpeakerOptions } from './active-speaker.js';
import type { SubscriptionPolicy } from './subscription-policy.js';
import type { CompositeFallbackOptions, FallbackReason } from './composite-fallback.js';

/**
 * What a participant is. `browser`: a person through the SDK (werift legs). The others are
 * server-side: `ingress` (a camera, a WHIP publisher), `mixer` (an MCU composite: subscribes to
 * browsers, publishes the mix), `egress` (a recorder, a stream out).
 */
export type ParticipantKind = 'browser' | 'ingress' | 'mixer' | 'egress';

export type MediaKind = 'audio' | 'video';

/** One simulcast layer (RFC 8853) of a publication as announced; layers are listed lowest first. */
export interface LayerSpec {
  /** RTP stream id (a=rid, RFC 8851), e.g. `q`, `h`, `f`; `''` without simulcast. */
  rid: string;
  /** The layer's SSRC when known up front; otherwise learned from its packets. */
  ssrc?: number | undefined;
}

/** A publication: one track of one participant, from any publication source (werift receiver, local RTP socket …). */
export interface PublicationSpec {
  /** Unique in the room, chosen by the adapter. */
  id: string;
  /** The publishing participant's id (it must have joined). */
  participant: string;
  kind: MediaKind;
  /** The stream id subscribers see (a=msid, RFC 8830); the SDK matches tracks to participants by it. */
  streamId: string;
  /** Simulcast layers, lowest first (see {@link orderSimulcastLayers}); one layer (rid `''`) without simulcast. */
  layers: LayerSpec[];
  /** The codec's hooks: keyframe detection for video (VP8 today; nothing VP8-specific is wired in the core). */
  codec: VideoCodecHooks | AudioCodecHooks;
  /**
   * When the source takes REMB (a WebRTC publisher leg): the SSRC to send it from. The core then
   * announces {@link SfuCoreOptions.publisherRembBps} to the participant (one REMB for all its publications).
   */
  rembSenderSsrc?: number | undefined;
  /**
   * Video: keep the packets of each layer's last keyframe and start new subscribers with them
   * (as Janus's `videobufferkf`), for sources that cannot make a keyframe on request, such as an
   * RTSP camera passed through. A subscriber then gets a picture with the first frame that
   * follows (later frames may refer to frames it missed until the source's next keyframe).
   * Default false.
   */
  keyframeCache?: boolean | undefined;
  /**
   * The source can change its encoder's bitrate (a server-side encoder such as the MCU
   * composite): the core reports its subscribers' bandwidth estimates to it as
   * `subscriber-estimate` actions (see {@link SfuAction}). Default false.
   */
  adaptsBitrate?: boolean | undefined;
}

/** A subscriber: anything that consumes publications (a browser's subscriber leg, a local RTP sink …). */
export interface SubscriberSpec {
  /** Unique in the room, chosen by the adapter. */
  id: string;
  /** The participant it belongs to (it must have joined). */
  participant: string;
  /**
   * Ready to receive video from the start (a UDP sink: true). A WebRTC leg is not ready until its
   * DTLS transport is up (a keyframe sent earlier would be lost): default false, see
   * {@link SfuCore.subscriptionReady}.
   */
  ready?: boolean;
}

/**
 * The facts of one RTP packet the core reads (RFC 3550 §5.1). Adapters may reuse one object for
 * every packet: the core reads it synchronously and keeps nothing of it.
 */
export interface RtpMeta {
  ssrc: number;
  /** 16-bit sequence number. */
  sequenceNumber: number;
  /** 32-bit timestamp, in the codec's clock rate. */
  timestamp: number;
  /** The payload (after the header): read lazily by the codec hooks, only when needed. */
  payload: Uint8Array;
  /** Bytes counted for bitrates and metrics: the 12-byte fixed header plus the payload. */
  size: number;
  /** RFC 6464 audio level of an audio packet, when it carried one. */
  audioLevel?: AudioLevel | undefined;
}

/** A publication as the adapters see it (read-only; the core owns it). */
export interface PublicationRef {
  readonly id: string;
  readonly participant: string;
  readonly kind: MediaKind;
  readonly streamId: string;
  /** The codec's hooks (and its SDP parameters: subscribers are offered exactly this codec). */
  readonly codec: VideoCodecHooks | AudioCodecHooks;
  /** Layers, lowest first, with the SSRC seen on each (undefined before its first packet). */
  readonly layers: readonly { readonly rid: string; readonly ssrc: number | undefined }[];
  /** True once unpublished (its participant left, or `unpublish`). */
  readonly closed: boolean;
}

/** A subscription (one subscriber receiving one publication through a down track), read-only. */
export interface SubscriptionRef {
  readonly subscriber: string;
  /** The subscriber's participant. */
  readonly participant: string;
  readonly publication: PublicationRef;
  /** SSRC the core assigned (a sink that picks its own, like a werift sender, may ignore it). */
  readonly outSsrc: number;
  /** The layer being forwarded now (null: nothing, paused or waiting for a keyframe). */
  readonly currentLayer: number | null;
  /** True once removed. */
  readonly closed: boolean;
}

/**
 * Where forwarded packets go, called synchronously from {@link SfuCore.rtp} once per subscriber
 * that gets the packet (the hot path: no action objects). The sink rewrites SSRC, sequence number
 * and timestamp (a werift sender sets its own SSRC).
 * @typeParam P the adapter's packet (werift's parsed `RtpPacket`, or the datagram's bytes)
 */
export interface ForwardSink<P> {
  forward(subscription: SubscriptionRef, packet: P, sequenceNumber: number, timestamp: number): void;
}

/** RTCP feedback from a subscriber (RFC 4585 §6; RFC 5104 §4.3.1 FIR; draft-alvestrand-rmcat-remb). */
export type SubscriberFeedback =
  /** Picture Loss Indication or Full Intra Request for one subscription: ask its publisher for a keyframe. */
  | { type: 'pli' | 'fir'; subscription: SubscriptionRef }
  /** Generic NACK (the sink's transport retransmits; counted only). */
  | { type: 'nack'; subscription: SubscriptionRef }
  /** REMB: the subscriber's receive-side estimate for everything it gets, bps. */
  | { type: 'remb'; subscriber: string; bitrateBps: number };

/** Why the core dropped an input; counted by reason in {@link SfuMetricsDelta.ignored}. */
export type IgnoreReason =
  | 'participant-exists'
  | 'unknown-participant'
  | 'publication-exists'
  | 'unknown-publication'
  | 'unknown-layer'
  | 'subscriber-exists'
  | 'unknown-subscriber'
  | 'already-subscribed'
  | 'not-subscribed'
  | 'unknown-track'
  | 'no-layer-forwarded'
  | 'bad-value';

/** Every {@link IgnoreReason}, for metrics that list them all. */
export const IGNORE_REASONS: readonly IgnoreReason[] = Object.freeze([
  'participant-exists',
  'unknown-participant',
  'publication-exists',
  'unknown-publication',
  'unknown-layer',
  'subscriber-exists',
  'unknown-subscriber',
  'already-subscribed',
  'not-subscribed',
  'unknown-track',
  'no-layer-forwarded',
  'bad-value',
]);

/** Counters since the previous metrics action (or {@link SfuCore.takeMetrics}). */
export interface SfuMetricsDelta {
  forwardedPackets: number;
  /** RTP header (12 bytes) and payload, before SRTP. */
  forwardedBytes: number;
  /** Keyframe requests (PLI or FIR) from subscribers. */
  pliReceived: number;
  /** PLIs asked of publishers (after the one per second per layer limit). */
  pliSent: number;
  /** NACKs from subscribers (the sink's transport retransmits: werift from its send cache). */
  nackReceived: number;
  /** Kept keyframes replayed to new subscribers (PublicationSpec.keyframeCache). */
  keyframeReplays: number;
  ignored: Partial<Record<IgnoreReason, number>>;
}

/**
 * The core's outputs (the shape of werift's TURN `protocol.ts`: a union of actions, drops
 * included). Forwarded packets are not actions: they go to the {@link ForwardSink}.
 */
export type SfuAction =
  /** Create the output for a new subscription (a werift transceiver on the subscriber's leg, a UDP sink …). */
  | { type: 'subscribe'; subscription: SubscriptionRef }
  /** Remove a subscription's output (werift: removeTrack, then renegotiate). */
  | { type: 'unsubscribe'; subscription: SubscriptionRef }
  /** The subscriber's set of subscriptions changed: a new offer is due (negotiating subscribers only). */
  | { type: 'renegotiate'; subscriber: string }
  /** Ask the publisher for a keyframe of one layer: a PLI (RFC 4585 §6.3.1) for that layer's SSRC. */
  | { type: 'request-keyframe'; publication: PublicationRef; layer: number; ssrc: number }
  /** Send this REMB (draft-alvestrand-rmcat-remb) through the publication's RTCP. */
  | { type: 'send-remb'; publication: PublicationRef; packet: Uint8Array }
  /**
   * The lowest fresh REMB estimate (bps, draft-alvestrand-rmcat-remb) among the subscribers that
   * receive a publication whose source adapts its bitrate ({@link PublicationSpec.adaptsBitrate}):
   * at every tick while one is known, once `null` when none is left (no subscriber, or their
   * REMBs are older than {@link SfuCoreOptions.rembStaleMs}). A REMB estimates everything the
   * subscriber's leg carries, so an owner may leave room for its other tracks (McuRoom does not
   * subtract its ~40 kbps Opus mix: it follows only falls, see encoder-bitrate.ts). `sendingBps`: what
   * the publication sends now (its layers' measured bitrate over the last second).
   */
  | { type: 'subscriber-estimate'; publication: PublicationRef; bitrateBps: number | null; sendingBps: number }
  /** Dynacast: the simulcast layers someone needs now; the others may be paused at the publisher. */
  | { type: 'publisher-layers'; publication: PublicationRef; rids: string[] }
  /** The active speakers, dominant first; to one participant (`to`, a newcomer) or to everyone. */
  | { type: 'active-speakers'; speakers: readonly ActiveSpeaker[]; to?: string }
  /**
   * A browser subscriber goes to the room's composite video instead of the separate videos
   * (`on`), or back (composite-fallback.ts); `estimateBps` (its REMB) and `needBps` (the lowest
   * layers of its videos and its audio) when it was decided. The owner starts the room's
   * composite when the first subscriber goes (a `mixer` publishing {@link COMPOSITE_STREAM_ID}) and
   * stops it after the last comes back; until the composite is published the subscriber keeps
   * its videos.
   */
  | { type: 'composite-fallback'; subscriber: string; participant: string; on: boolean; reason: FallbackReason; estimateBps: number | undefined; needBps: number }
  /** Counters since the last metrics action; emitted by {@link SfuCore.tick} when something moved. */
  | { type: 'metrics'; delta: SfuMetricsDelta }
  /** An input was dropped (unknown id, stale handle, bad value …); also counted in the metrics. */
  | { type: 'ignore'; reason: IgnoreReason; detail?: string };

/**
 * Options of {@link SfuCore}; every field is optional (defaults in {@link SFU_CORE_DEFAULTS}).
 * Times in ms, rates in bits per second.
 */
export interface SfuCoreOptions {
  /** Who subscribes to what (the room's policy). Default {@link SFU_ROOM_POLICY}: every browser gets every other participant's publications. */
  policy?: SubscriptionPolicy;
  /** Minimum time between two PLIs for one layer of a publication, however many subscribers ask, ms. Default 1000. */
  keyframeRequestIntervalMs?: number;
  /**
   * Bitrate announced to publishers that take REMB, bps. Default 2,500,000: all three simulcast
   * layers (150 + 500 + 1500 kbps), audio and headroom. libwebrtc takes it as its estimate during
   * its first 2 s and as a ceiling after; its loss-based control still backs off on a congested link.
   */
  publisherRembBps?: number;
  /**
   * Expected bitrate of a simulcast layer by rank (q, h, f), bps, for layers not measured yet
   * (paused ones); a publication without simulcast gets rank 1. Default [150,000, 500,000,
   * 1,500,000]: the SDK's `maxBitrate`s.
   */
  nominalLayerBps?: readonly number[];
  /** Window over which layer bitrates are measured; a layer with no packet for this long counts as not arriving, ms. Default 1000. */
  layerWindowMs?: number;
  /** A subscriber's REMB older than this no longer counts, ms. Default 5000. */
  rembStaleMs?: number;
  /** Active speaker detection (see {@link ACTIVE_SPEAKER_DEFAULTS}). */
  activeSpeaker?: ActiveSpeakerOptions;
  /** First SSRC handed to down tracks (then counting up), a uint32. Default 0x10000000. */
  firstOutSsrc?: number;
  /** The composite fallback of weak subscribers (see {@link COMPOSITE_FALLBACK_DEFAULTS}); on by default. */
  compositeFallback?: CompositeFallbackOptions;
}

/** Defaults of {@link SfuCoreOptions} (policy: {@link SFU_ROOM_POLICY}). */
export const SFU_CORE_DEFAULTS = Object.freeze({
  keyframeRequestIntervalMs: 1000,
  publisherRembBps: 2_500_000,
  nominalLayerBps: Object.freeze([150_000, 500_000, 1_500_000]) as readonly number[],
  layerWindowMs: 1000,
  rembStaleMs: 5000,
  firstOutSsrc: 0x10000000,
});

/** {@link SfuCoreOptions} with every default filled in (policy, active speaker and composite fallback options apart). */
export type ResolvedCoreOptions = Required<Omit<SfuCoreOptions, 'policy' | 'activeSpeaker' | 'compositeFallback'>>;

/**
 * Fills in defaults and checks ranges.
 * @throws RangeError naming the option when one is out of range
 */
export function resolveCoreOptions(options: SfuCoreOptions): ResolvedCoreOptions {
  const o: ResolvedCoreOptions = { ...SFU_CORE_DEFAULTS };
  for (const [k, v] of Object.entries(options)) if (v !== undefined && k in o) (o as Record<string, unknown>)[k] = v;
  for (const k of ['keyframeRequestIntervalMs', 'publisherRembBps', 'layerWindowMs', 'rembStaleMs'] as const) {
    if (!Number.isFinite(o[k]) || o[k] < 0) throw new RangeError(`SFU core option ${k} must be a finite number >= 0, got ${o[k]}`);
  }
  if (!Number.isInteger(o.firstOutSsrc) || o.firstOutSsrc < 0 || o.firstOutSsrc > 0xffffffff) throw new RangeError(`SFU core option firstOutSsrc must be a uint32, got ${o.firstOutSsrc}`);
  return o;
}

/** Counters at zero. */
export function emptyMetrics(): SfuMetricsDelta {
  return { forwardedPackets: 0, forwardedBytes: 0, pliReceived: 0, pliSent: 0, nackReceived: 0, keyframeReplays: 0, ignored: {} };
}

/** Whether nothing was counted (no `metrics` action is worth sending). */
export function isEmptyMetrics(m: SfuMetricsDelta): boolean {
  return m.forwardedPackets === 0 && m.pliReceived === 0 && m.pliSent === 0 && m.nackReceived === 0 && m.keyframeReplays === 0 && Object.keys(m.ignored).length === 0;
}
