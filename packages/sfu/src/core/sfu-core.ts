/**
 * One room's SFU, sans-I/O: participants, publications, subscribers and subscriptions in; what to
 * forward where, keyframe requests, REMB, dynacast, renegotiations, active speakers and metrics
 * out. No werift, sockets, timers or clock of its own: every input carries `now` (ms, one
 * monotonic clock), every input returns {@link SfuAction}s, and forwarded packets go to the
 * {@link ForwardSink} passed to {@link SfuCore.rtp}. Adapters (../werift, ../local-rtp) do the I/O.
 *
 * ```ts
 * const core = new SfuCore();
 * apply(core.join('ana', 'browser', now));
 * apply(core.addSubscriber({ id: 'ana', participant: 'ana' }, now));       // her subscriber leg
 * apply(core.publish({ id: 'p1', participant: 'ben', kind: 'video', streamId: 's', layers: [{ rid: '' }], codec: VP8 }, now));
 * apply(core.rtp(core.publication('p1')!, 0, meta, packet, now, sink));   // per packet: sink.forward(…)
 * apply(core.tick(now));                                                   // every 250 ms
 * ```
 */
import { ActiveSpeakerDetector } from './active-speaker.js';
import { layerCounts, reportSubscriberEstimate, selectLayersOf, videoCounts } from './layer-control.js';
import { Participant, Publication, Subscriber, Subscription, detach, renderKey, renegotiations } from './model.js';
import { SFU_ROOM_POLICY, type SubscriptionPolicy } from './subscription-policy.js';
import { forwardRtp, ignored, liveSubscription, subscriberFeedback } from './packet-path.js';
import { CompositeFallback } from './composite-fallback.js';
import { fallbackAction, fallbackTick, isComposite } from './fallback-control.js';
import { emptyMetrics, isEmptyMetrics, resolveCoreOptions, type ResolvedCoreOptions } from './sfu-core-types.js';
import type { ForwardSink, IgnoreReason, ParticipantKind, PublicationRef, PublicationSpec, RtpMeta, SfuAction, SfuCoreOptions, SfuMetricsDelta, SubscriberFeedback, SubscriberSpec, SubscriptionRef } from './sfu-core-types.js';
import type { ActiveSpeaker } from './active-speaker.js';

export type { SubscriberFeedback } from './sfu-core-types.js';

const NO_ACTIONS: readonly SfuAction[] = Object.freeze([]);

export class SfuCore {
  private readonly options: ResolvedCoreOptions;
  private policy: SubscriptionPolicy;
  private readonly participants = new Map<string, Participant>();
  private readonly pubs = new Map<string, Publication>();
  private readonly subscribers = new Map<string, Subscriber>();
  private readonly speakers: ActiveSpeakerDetector;
  private readonly fallback: CompositeFallback;
  /** The room's composite video (a mixer's), when there is one: subscribers in the fallback get it. */
  private composite: Publication | undefined;
  private nextSsrc: number;
  private metrics: SfuMetricsDelta = emptyMetrics();

  /** @throws RangeError when an option is out of range (see {@link SfuCoreOptions}; active speaker options: {@link ActiveSpeakerDetector}) */
  constructor(options: SfuCoreOptions = {}) {
    this.options = resolveCoreOptions(options);
    this.policy = options.policy ?? SFU_ROOM_POLICY;
    this.speakers = new ActiveSpeakerDetector(options.activeSpeaker);
    this.fallback = new CompositeFallback(options.compositeFallback);
    this.nextSsrc = this.options.firstOutSsrc;
  }

  // ------------------------------------------------------------------ participants

  /** A participant joined. A browser newcomer is told the current active speakers. */
  join(id: string, kind: ParticipantKind, _now: number): SfuAction[] {
    if (this.participants.has(id)) return [this.ignore('participant-exists', id)];
    this.participants.set(id, new Participant(id, kind));
    const speakers = this.speakers.speakers;
    return kind === 'browser' && speakers.length > 0 ? [{ type: 'active-speakers', speakers: [...speakers], to: id }] : [];
  }

  /** A participant left: its subscribers and publications go, and with them every subscription they had. */
  leave(id: string, now: number): SfuAction[] {
    const p = this.participants.get(id);
    if (!p) return [this.ignore('unknown-participant', id)];
    const out: SfuAction[] = [];
    for (const s of [...p.subscribers]) this.dropSubscriber(s, out);
    for (const pub of [...p.publications]) this.dropPublication(pub, now, out);
    this.participants.delete(id);
    this.speakers.remove(id);
    this.compositeChanged(now, out);
    this.renegotiateAll(out);
    return out;
  }

  // ------------------------------------------------------------------ publications

  /** A publication source started: the policy's subscribers subscribe to it. */
  publish(spec: PublicationSpec, now: number): SfuAction[] {
    const owner = this.participants.get(spec.participant);
    if (!owner) return [this.ignore('unknown-participant', spec.participant)];
    if (this.pubs.has(spec.id)) return [this.ignore('publication-exists', spec.id)];
    if (spec.layers.length === 0 || (spec.kind === 'audio' && spec.layers.length !== 1)) return [this.ignore('bad-value', `publication ${spec.id}: ${spec.layers.length} layers`)];
    const pub = new Publication(spec, owner, this.options);
    owner.publications.push(pub);
    this.pubs.set(pub.id, pub);
    const out: SfuAction[] = [];
    for (const s of this.subscribers.values()) if (this.wants(s, pub)) this.attach(s, pub, false, now, out);
    this.compositeChanged(now, out);
    this.renegotiateAll(out);
    return out;
  }

  /** A publication source stopped: its subscriptions go (their subscribers renegotiate). */
  unpublish(id: string, now: number): SfuAction[] {
    const pub = this.pubs.get(id);
    if (!pub) return [this.ignore('unknown-publication', id)];
    const out: SfuAction[] = [];
    this.dropPublication(pub, now, out);
    this.compositeChanged(now, out);
    this.renegotiateAll(out);
    return out;
  }

  /** A publication by id (for the hot path's handle), if published. */
  publication(id: string): PublicationRef | undefined {
    return this.pubs.get(id);
  }

  /** Every publication, in publishing order per participant. */
  publications(): PublicationRef[] {
    return [...this.participants.values()].flatMap((p) => p.publications);
  }

  // ------------------------------------------------------------------ subscribers and subscriptions

  /** A subscriber appeared (a subscriber leg, a sink): it subscribes to what the policy gives it. */
  addSubscriber(spec: SubscriberSpec, now: number): SfuAction[] {
    const owner = this.participants.get(spec.participant);
    if (!owner) return [this.ignore('unknown-participant', spec.participant)];
    if (this.subscribers.has(spec.id)) return [this.ignore('subscriber-exists', spec.id)];
    const s = new Subscriber(spec.id, owner, spec.ready ?? false, this.options.rembStaleMs);
    owner.subscribers.push(s);
    this.subscribers.set(s.id, s);
    const out: SfuAction[] = [];
    for (const p of this.participants.values()) for (const pub of p.publications) if (this.wants(s, pub)) this.attach(s, pub, false, now, out);
    this.renegotiateAll(out);
    return out;
  }

  /** A subscriber went away: its subscriptions end (no renegotiation: its transport is going). */
  removeSubscriber(id: string, _now: number): SfuAction[] {
    const s = this.subscribers.get(id);
    if (!s) return [this.ignore('unknown-subscriber', id)];
    const out: SfuAction[] = [];
    this.dropSubscriber(s, out);
    return out;
  }

  /**
   * Subscribes `subscriber` to `publication` regardless of the policy (a mixer input, a
   * recorder); the policy never removes such a subscription.
   */
  subscribe(subscriber: string, publication: string, now: number): SfuAction[] {
    const s = this.subscribers.get(subscriber);
    if (!s) return [this.ignore('unknown-subscriber', subscriber)];
    const pub = this.pubs.get(publication);
    if (!pub) return [this.ignore('unknown-publication', publication)];
    const existing = s.subscriptions.get(pub);
    if (existing) {
      existing.explicit = true;
      return [this.ignore('already-subscribed', `${subscriber} → ${publication}`)];
    }
    const out: SfuAction[] = [];
    this.attach(s, pub, true, now, out);
    this.renegotiateAll(out);
    return out;
  }

  /** Ends one subscription (explicit or the policy's; the policy re-adds its own only when re-applied). */
  unsubscribe(subscriber: string, publication: string, _now: number): SfuAction[] {
    const s = this.subscribers.get(subscriber);
    const pub = this.pubs.get(publication);
    const sub = pub && s?.subscriptions.get(pub);
    if (!sub) return [this.ignore('not-subscribed', `${subscriber} → ${publication}`)];
    const out: SfuAction[] = [];
    detach(sub, out);
    this.renegotiateAll(out);
    return out;
  }

  /** The subscription (subscriber id, publication id), if any. */
  subscription(subscriber: string, publication: string): SubscriptionRef | undefined {
    const pub = this.pubs.get(publication);
    return pub ? this.subscribers.get(subscriber)?.subscriptions.get(pub) : undefined;
  }

  /** Replaces the room's policy and applies it: subscriptions it no longer implies end (explicit ones stay), new ones start. */
  setPolicy(policy: SubscriptionPolicy, now: number): SfuAction[] {
    this.policy = policy;
    const out: SfuAction[] = [];
    for (const s of this.subscribers.values()) this.applyPolicy(s, now, out);
    this.renegotiateAll(out);
    return out;
  }

  /** Subscribers in the composite fallback now (composite-fallback.ts). */
  get compositeFallbacks(): number {
    return this.fallback.size;
  }

  /**
   * Whether a subscription's transport can take video now (werift: its sender's DTLS transport
   * is connected). Layer selection skips subscriptions that are not ready.
   */
  subscriptionReady(subscription: SubscriptionRef, ready: boolean, now: number): SfuAction[] {
    const sub = liveSubscription(subscription);
    if (!sub) return [this.ignore('not-subscribed')];
    if (sub.ready === ready) return [];
    sub.ready = ready;
    const out: SfuAction[] = [];
    if (ready && sub.pub.kind === 'video') selectLayersOf(sub.pub, now, videoCounts(this.pubs.values()), this.metrics, out);
    return out;
  }

  // ------------------------------------------------------------------ media and feedback

  /**
   * One RTP packet of layer `layer` of `publication` (the hot path): measured, then handed to the
   * sink once per subscription that forwards it, with its rewritten sequence number and timestamp.
   * @param packet passed through to the sink untouched
   * @returns actions the packet caused (keyframe requests, REMB; usually none: a shared empty array)
   */
  rtp<P>(publication: PublicationRef, layer: number, meta: RtpMeta, packet: P, now: number, sink: ForwardSink<P>): readonly SfuAction[] {
    const pub = publication instanceof Publication ? publication : undefined;
    if (!pub || pub.closed) return [this.ignore('unknown-publication', publication.id)];
    const l = pub.layers[layer];
    if (!l) return [this.ignore('unknown-layer', `${pub.id} layer ${layer}`)];
    if (l.ssrc !== meta.ssrc) pub.layerSsrc(layer, meta.ssrc);
    const out = forwardRtp(pub, layer, meta, packet, now, sink, this.metrics, this.speakers, this.options.publisherRembBps);
    return out ?? NO_ACTIONS;
  }

  /** RTCP feedback from a subscriber. */
  feedback(fb: SubscriberFeedback, now: number): SfuAction[] {
    return subscriberFeedback(fb, now, this.metrics, (id) => this.subscribers.get(id));
  }

  /**
   * Adaptive stream: participant `participant` renders `publisher`'s video `streamId` at
   * `width`×`height` device pixels (0×0: not visible). Kept for videos not subscribed yet.
   */
  trackSettings(participant: string, publisher: string, streamId: string, width: number, height: number, now: number): SfuAction[] {
    const p = this.participants.get(participant);
    if (!p) return [this.ignore('unknown-participant', participant)];
    if (!(width >= 0 && height >= 0 && Number.isFinite(width) && Number.isFinite(height))) return [this.ignore('bad-value', `render size ${width}×${height}`)];
    const size = { width, height };
    p.renderSizes.set(renderKey(publisher, streamId), size);
    const pub = this.participants.get(publisher)?.publications.find((x) => x.streamId === streamId && x.kind === 'video');
    const subs = pub ? p.subscribers.map((s) => s.subscriptions.get(pub)).filter((s): s is Subscription => s !== undefined) : [];
    if (!pub || subs.length === 0) return [this.ignore('unknown-track', `${publisher} ${streamId}`)];
    for (const s of subs) s.renderSize = size;
    const out: SfuAction[] = [];
    selectLayersOf(pub, now, videoCounts(this.pubs.values()), this.metrics, out);
    return out;
  }

  /** Every 200–300 ms: layer selection and dynacast, active-speaker changes, metrics. */
  tick(now: number): SfuAction[] {
    const out: SfuAction[] = [];
    const videos = videoCounts(this.pubs.values());
    for (const pub of this.pubs.values()) {
      if (pub.kind === 'video') selectLayersOf(pub, now, videos, this.metrics, out);
      if (pub.adaptsBitrate) reportSubscriberEstimate(pub, now, out);
    }
    fallbackTick(this.fallback, this.subscribers.values(), [...this.pubs.values()], this.policy, now, out, (s) => this.applyPolicy(s, now, out));
    this.renegotiateAll(out);
    const speakers = this.speakers.tick(now);
    if (speakers) out.push({ type: 'active-speakers', speakers: [...speakers] });
    if (!isEmptyMetrics(this.metrics)) out.push({ type: 'metrics', delta: this.takeMetrics() });
    return out;
  }

  /** The counters since the last metrics action or call (and resets them), e.g. at a metrics scrape. */
  takeMetrics(): SfuMetricsDelta {
    const m = this.metrics;
    this.metrics = emptyMetrics();
    return m;
  }

  // ------------------------------------------------------------------ state for metrics

  /** The active speakers as last reported, dominant first. */
  get activeSpeakers(): readonly ActiveSpeaker[] {
    return this.speakers.speakers;
  }

  /** A participant's kind, or undefined when it is not in the room. */
  participantKind(id: string): ParticipantKind | undefined {
    return this.participants.get(id)?.kind;
  }

  /** Whether a subscriber with this id exists. */
  hasSubscriber(id: string): boolean {
    return this.subscribers.has(id);
  }

  /** Ids of the participants, in joining order. */
  participantIds(): string[] {
    return [...this.participants.keys()];
  }

  /** Sizes, for leak checks and metrics. */
  stats(): { participants: number; publications: number; subscriptions: number } {
    let subscriptions = 0;
    for (const pub of this.pubs.values()) subscriptions += pub.subscriptions.length;
    return { participants: this.participants.size, publications: this.pubs.size, subscriptions };
  }

  /** Adds video subscriptions by the rid they forward now (`-` without simulcast, `none` when paused or waiting) to `into`. */
  layerCounts(into: Record<string, number>): void {
    layerCounts(this.pubs.values(), into);
  }

  // ------------------------------------------------------------------ internals

  private wants(s: Subscriber, pub: Publication): boolean {
    const compositeFallback = this.composite !== undefined && this.fallback.inComposite(s.id);
    return this.policy.subscribes({ id: s.id, participant: s.owner, compositeFallback }, { id: pub.id, participant: pub.owner, kind: pub.kind, streamId: pub.streamId });
  }

  /** Ends the policy's subscriptions of `s` it no longer implies (explicit ones stay) and starts new ones. */
  private applyPolicy(s: Subscriber, now: number, out: SfuAction[]): void {
    for (const sub of [...s.subscriptions.values()]) if (!sub.explicit && !this.wants(s, sub.pub)) detach(sub, out);
    for (const pub of this.pubs.values()) if (!s.subscriptions.has(pub) && this.wants(s, pub)) this.attach(s, pub, false, now, out);
  }

  /** A composite came or went: subscribers in the fallback switch between it and the separate videos. */
  private compositeChanged(now: number, out: SfuAction[]): void {
    const composite = this.composite && !this.composite.closed ? this.composite : [...this.pubs.values()].find(isComposite);
    if (composite === this.composite) return;
    this.composite = composite;
    for (const s of this.subscribers.values()) if (this.fallback.inComposite(s.id)) this.applyPolicy(s, now, out);
  }

  /** Subscribes `s` to `pub`: the output first, then the first layer choice. */
  private attach(s: Subscriber, pub: Publication, explicit: boolean, now: number, out: SfuAction[]): void {
    const sub = new Subscription(s, pub, this.nextSsrc, explicit);
    this.nextSsrc = (this.nextSsrc + 1) >>> 0;
    const size = s.owner.renderSizes.get(renderKey(pub.owner.id, pub.streamId));
    if (size && pub.kind === 'video') sub.renderSize = size;
    s.subscriptions.set(pub, sub);
    pub.subscriptions.push(sub);
    out.push({ type: 'subscribe', subscription: sub });
    if (pub.kind === 'audio') sub.down.selectLayer(0, now);
    else selectLayersOf(pub, now, videoCounts(this.pubs.values()), this.metrics, out);
  }

  private dropSubscriber(s: Subscriber, out: SfuAction[]): void {
    for (const sub of [...s.subscriptions.values()]) detach(sub, out);
    const left = this.fallback.remove(s.id);
    if (left) out.push(fallbackAction(s, left));
    this.subscribers.delete(s.id);
    const list = s.owner.subscribers;
    list.splice(list.indexOf(s), 1);
  }

  private dropPublication(pub: Publication, _now: number, out: SfuAction[]): void {
    pub.closed = true;
    for (const sub of [...pub.subscriptions]) detach(sub, out);
    this.pubs.delete(pub.id);
    const list = pub.owner.publications;
    list.splice(list.indexOf(pub), 1);
  }

  /** One `renegotiate` per subscriber whose subscriptions changed in `out` (after its subscribe/unsubscribe actions). */
  private renegotiateAll(out: SfuAction[]): void {
    renegotiations(out, (id) => this.subscribers.has(id));
  }

  private ignore(reason: IgnoreReason, detail?: string): SfuAction {
    return ignored(this.metrics, reason, detail);
  }
}
