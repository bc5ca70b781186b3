/**
 * The SFU core's room model (internal to the core): participants, their publications and
 * subscribers, and subscriptions, each subscription with its {@link DownTrack}. Adapters see
 * these through the read-only {@link PublicationRef} and {@link SubscriptionRef}.
 */
import { DownTrack, KeyframeRequestLimiter } from './down-track.js';
import { LayerMonitor } from './layer-selection.js';
import { RembEstimate, type RembGenerator } from './bwe-feedback.js';
import { KeyframeCache } from './keyframe-cache.js';
import type { AudioCodecHooks, VideoCodecHooks } from '../rtp/codec.js';
import type { MediaKind, ParticipantKind, PublicationRef, PublicationSpec, SfuAction, SubscriptionRef } from './sfu-core-types.js';

/** A render size in device pixels (adaptive stream). */
export interface Size {
  width: number;
  height: number;
}

export class Participant {
  readonly publications: Publication[] = [];
  readonly subscribers: Subscriber[] = [];
  /** REMB toward this participant's publisher leg, created at the first packet of a publication that takes REMB. */
  remb: RembGenerator | undefined;
  /** Adaptive stream: render sizes this participant reported, by {@link renderKey}. Kept for tracks not subscribed yet (a room moving to the SFU hears sizes first). */
  readonly renderSizes = new Map<string, Size>();
  constructor(
    readonly id: string,
    readonly kind: ParticipantKind,
  ) {}
}

/** Key of a render size: the publisher and the publication's stream id. */
export function renderKey(publisher: string, streamId: string): string {
  return `${publisher}\n${streamId}`;
}

/** Order of the usual simulcast rids, lowest first (LiveKit's and our SDK's q/h/f). */
const RID_RANK: Readonly<Record<string, number>> = { q: 0, h: 1, f: 2 };

/**
 * Orders simulcast layers lowest first: q, h, f by name (LiveKit's and our SDK's rids), any
 * other rid in the given order. Layers without rid (no simulcast) stay as they are.
 */
export function orderSimulcastLayers<T extends { rid: string }>(layers: readonly T[]): T[] {
  return layers
    .map((l, i) => ({ l, rank: RID_RANK[l.rid] ?? i }))
    .sort((a, b) => a.rank - b.rank)
    .map((x) => x.l);
}

export class Publication implements PublicationRef {
  closed = false;
  readonly layers: { rid: string; ssrc: number | undefined }[];
  readonly subscriptions: Subscription[] = [];
  /** Per-layer bitrate and keyframe sizes (video). */
  readonly monitor: LayerMonitor;
  /** PLIs to the publisher: at most one per interval per layer, however many subscribers ask. */
  readonly limiter: KeyframeRequestLimiter;
  /** The rids last sent in `publisher-layers` (dynacast), comma-joined; null before the first. */
  activeRids: string | null = null;
  readonly id: string;
  readonly kind: MediaKind;
  readonly streamId: string;
  readonly codec: VideoCodecHooks | AudioCodecHooks;
  readonly rembSenderSsrc: number | undefined;
  /** Per layer: the last keyframe's packets, for sources that cannot make one on request (PublicationSpec.keyframeCache). */
  readonly keyframes: KeyframeCache[] | undefined;
  /** The source adapts its bitrate to its subscribers' estimates (PublicationSpec.adaptsBitrate). */
  readonly adaptsBitrate: boolean;
  /** The last `subscriber-estimate` reported, bps; null when none was or the last was `null`. */
  reportedEstimate: number | null = null;

  constructor(
    spec: PublicationSpec,
    readonly owner: Participant,
    options: { nominalLayerBps: readonly number[]; layerWindowMs: number; keyframeRequestIntervalMs: number },
  ) {
    this.id = spec.id;
    this.kind = spec.kind;
    this.streamId = spec.streamId;
    this.codec = spec.codec;
    this.rembSenderSsrc = spec.rembSenderSsrc;
    this.layers = spec.layers.map((l) => ({ rid: l.rid, ssrc: l.ssrc }));
    this.adaptsBitrate = spec.adaptsBitrate === true;
    this.keyframes = spec.keyframeCache && spec.kind === 'video' ? spec.layers.map(() => new KeyframeCache()) : undefined;
    const n = spec.layers.length;
    // Expected rates by rid rank (h/f of a 270p–539p capture are h and f, not q and h).
    const nominal = spec.layers.map((l, i) => options.nominalLayerBps[n === 1 ? 1 : Math.min(RID_RANK[l.rid] ?? i, 2)] ?? 0);
    this.monitor = new LayerMonitor(
      spec.layers.map((l) => l.rid),
      nominal,
      options.layerWindowMs,
    );
    this.limiter = new KeyframeRequestLimiter(options.keyframeRequestIntervalMs);
  }

  get participant(): string {
    return this.owner.id;
  }

  /** The video codec's hooks (undefined for audio). */
  get video(): VideoCodecHooks | undefined {
    return this.kind === 'video' ? (this.codec as VideoCodecHooks) : undefined;
  }

  /**
   * Layer `layer` arrives with SSRC `ssrc`, a new one. The layer of a server-side source (a local
   * RTP publication: a camera pull, the MCU or fallback composite; no WebRTC publisher leg,
   * so no `rembSenderSsrc`) whose SSRC changes started over, with new sequence numbers and
   * timestamps (RFC 3550 §8): its subscribers resume at its next keyframe, with our numbering
   * continuing, and a kept keyframe is stale. Without that, a restarted GStreamer worker's stream
   * went out with the old offsets: a jump in sequence numbers and timestamps the subscriber's
   * jitter buffer and A/V sync had to recover from. Browser publications keep werift's SSRC
   * handling as it was.
   */
  layerSsrc(layer: number, ssrc: number): void {
    const l = this.layers[layer]!;
    if (l.ssrc !== undefined && (this.keyframes !== undefined || this.rembSenderSsrc === undefined)) {
      for (const s of this.subscriptions) s.down.sourceRestarted(layer);
      this.keyframes?.[layer]?.reset();
    }
    l.ssrc = ssrc;
  }
}

export class Subscriber {
  readonly subscriptions = new Map<Publication, Subscription>();
  /** The bandwidth estimate toward this subscriber, from its REMBs. */
  readonly estimate: RembEstimate;
  /** NACKs it sent since the composite fallback's last sample (evidence of loss). */
  nacks = 0;
  constructor(
    readonly id: string,
    readonly owner: Participant,
    /** Whether new subscriptions start ready (see SubscriberSpec.ready). */
    readonly readyByDefault: boolean,
    rembStaleMs: number,
  ) {
    this.estimate = new RembEstimate(rembStaleMs);
  }
}

export class Subscription implements SubscriptionRef {
  closed = false;
  /** Video may be selected (the subscriber's transport is up). */
  ready: boolean;
  /** Adaptive stream: the subscriber's render size for this video, device pixels. */
  renderSize: Size | undefined;
  readonly down: DownTrack;

  constructor(
    readonly owner: Subscriber,
    readonly pub: Publication,
    readonly outSsrc: number,
    /** Asked for with SfuCore.subscribe (the policy neither made nor removes it). */
    public explicit: boolean,
  ) {
    this.ready = owner.readyByDefault;
    this.down = new DownTrack({ outSsrc, clockRate: pub.codec.clockRate, kind: pub.kind });
  }

  get subscriber(): string {
    return this.owner.id;
  }

  get participant(): string {
    return this.owner.owner.id;
  }

  get publication(): PublicationRef {
    return this.pub;
  }

  get currentLayer(): number | null {
    return this.down.currentSource;
  }
}

/** Ends a subscription: out of its subscriber's and its publication's lists, its `unsubscribe` action into `out`. */
export function detach(sub: Subscription, out: SfuAction[]): void {
  sub.closed = true;
  sub.owner.subscriptions.delete(sub.pub);
  const list = sub.pub.subscriptions;
  list.splice(list.indexOf(sub), 1);
  out.push({ type: 'unsubscribe', subscription: sub });
}

/** One `renegotiate` per subscriber (still there: `present`) whose subscriptions changed in `out` (after its subscribe/unsubscribe actions). */
export function renegotiations(out: SfuAction[], present: (subscriber: string) => boolean): void {
  const changed = new Set<string>();
  for (const a of out) if (a.type === 'subscribe' || a.type === 'unsubscribe') changed.add(a.subscription.subscriber);
  for (const id of changed) if (present(id)) out.push({ type: 'renegotiate', subscriber: id });
}
