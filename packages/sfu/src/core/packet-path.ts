/**
 * The SFU core's media and feedback paths (the methods in sfu-core.ts call these): one RTP packet
 * of a known layer (publisher REMB, bitrate and audio-level measurement, keyframe replay, the
 * per-subscription route with its rewritten sequence number and timestamp), and a subscriber's
 * RTCP feedback. Sans-I/O like the core: `now` in ms.
 */
import type { ActiveSpeakerDetector } from './active-speaker.js';
import { RembGenerator } from './bwe-feedback.js';
import { replayKeyframe } from './keyframe-cache.js';
import { requestKeyframe } from './layer-control.js';
import { Subscription, type Publication, type Subscriber } from './model.js';
import type { ForwardSink, IgnoreReason, RtpMeta, SfuAction, SfuMetricsDelta, SubscriberFeedback, SubscriptionRef } from './sfu-core-types.js';

/**
 * Measures one packet of layer `layer` of `pub` and hands it to `sink` once per subscription
 * that forwards it.
 * @param packet passed through to the sink untouched
 * @param m the core's counters; `speakers` its active-speaker detector; `publisherRembBps` the publisher REMB cap, bps
 * @returns actions the packet caused (keyframe requests, REMB), or undefined when none
 */
export function forwardRtp<P>(pub: Publication, layer: number, meta: RtpMeta, packet: P, now: number, sink: ForwardSink<P>, m: SfuMetricsDelta, speakers: ActiveSpeakerDetector, publisherRembBps: number): SfuAction[] | undefined {
  let out: SfuAction[] | undefined;
  if (pub.rembSenderSsrc !== undefined) {
    const gen = (pub.owner.remb ??= new RembGenerator({ senderSsrc: pub.rembSenderSsrc, maxBitrateBps: publisherRembBps }));
    gen.onRtp(meta.ssrc, now);
    const bytes = gen.poll(now);
    if (bytes) (out ??= []).push({ type: 'send-remb', publication: pub, packet: bytes });
  }
  const video = pub.video;
  let keyframe: boolean | undefined;
  const isKeyframe = video ? () => (keyframe ??= video.isKeyframe(meta.payload)) : () => true;
  if (video) pub.monitor.packet(layer, meta.size, now, video.keyframeSize?.(meta.payload));
  else if (meta.audioLevel) speakers.push(pub.owner.id, meta.audioLevel.level, meta.audioLevel.voice, now);
  const subs = pub.subscriptions;
  const cache = pub.keyframes?.[layer];
  // A kept keyframe goes before the first packet of the next frame to a subscription still
  // waiting for one (a source that cannot make keyframes on request).
  const replay = cache !== undefined && cache.startsFrame(meta.timestamp) && cache.readyFor(meta.timestamp) && !isKeyframe();
  for (let i = 0; i < subs.length; i++) {
    const s = subs[i]!;
    if (replay && s.down.awaitsKeyframe(layer)) {
      m.forwardedPackets += replayKeyframe(cache, s, layer, meta, now, sink);
      m.keyframeReplays++;
    }
    const r = s.down.route(layer, meta.sequenceNumber, meta.timestamp, isKeyframe, now);
    if (r.forward) {
      sink.forward(s, packet, r.sequenceNumber, r.timestamp);
      m.forwardedPackets++;
      m.forwardedBytes += meta.size;
    }
    if (r.requestKeyframe >= 0) requestKeyframe(pub, r.requestKeyframe, now, m, (out ??= []));
  }
  cache?.push(packet, meta.timestamp, isKeyframe());
  return out;
}

/** Counts an ignored input in `m` and returns its `ignore` action. */
export function ignored(m: SfuMetricsDelta, reason: IgnoreReason, detail?: string): SfuAction {
  m.ignored[reason] = (m.ignored[reason] ?? 0) + 1;
  return detail === undefined ? { type: 'ignore', reason } : { type: 'ignore', reason, detail };
}

/** The subscription behind `ref` while it is open. */
export function liveSubscription(ref: SubscriptionRef): Subscription | undefined {
  return ref instanceof Subscription && !ref.closed ? ref : undefined;
}

/**
 * RTCP feedback from a subscriber: a REMB updates its estimate, a NACK is counted, a PLI or FIR
 * asks the publisher for a keyframe of the layer the subscription gets.
 * @param subscriber looks a subscriber up by id
 */
export function subscriberFeedback(fb: SubscriberFeedback, now: number, m: SfuMetricsDelta, subscriber: (id: string) => Subscriber | undefined): SfuAction[] {
  if (fb.type === 'remb') {
    const s = subscriber(fb.subscriber);
    if (!s) return [ignored(m, 'unknown-subscriber', fb.subscriber)];
    if (!Number.isFinite(fb.bitrateBps) || fb.bitrateBps < 0) return [ignored(m, 'bad-value', `REMB ${fb.bitrateBps}`)];
    s.estimate.onRemb(fb.bitrateBps, now);
    return [];
  }
  const sub = liveSubscription(fb.subscription);
  if (!sub) return [ignored(m, 'not-subscribed')];
  if (fb.type === 'nack') {
    m.nackReceived++;
    sub.owner.nacks++;
    return [];
  }
  // A subscriber lost the picture (PLI) or wants a decoder refresh (FIR): ask the publisher
  // for a keyframe of the layer it gets (always with a PLI, rate-limited per layer).
  m.pliReceived++;
  const layer = sub.down.targetSource ?? sub.down.currentSource;
  if (layer === null) return [ignored(m, 'no-layer-forwarded', sub.pub.id)];
  const out: SfuAction[] = [];
  requestKeyframe(sub.pub, layer, now, m, out);
  return out;
}
