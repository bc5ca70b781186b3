/**
 * The SFU core's side of the composite fallback (composite-fallback.ts): each browser
 * subscriber's need from the room's publications, one {@link FallbackSample} per tick, and the
 * `composite-fallback` actions of the decisions.
 */
import type { CompositeFallback, FallbackDecision } from './composite-fallback.js';
import { renderKey, type Publication, type Subscriber } from './model.js';
import { isCompositeVideo, type SubscriptionPolicy } from './subscription-policy.js';
import type { SfuAction } from './sfu-core-types.js';

/** Whether `pub` is a room composite (a `mixer` participant's video with the composite stream id). */
export function isComposite(pub: Publication): boolean {
  return isCompositeVideo({ id: pub.id, participant: pub.owner, kind: pub.kind, streamId: pub.streamId });
}

/**
 * What `s` needs to receive its separate tracks at their lowest layers, bps: per video the room's
 * policy gives it (not the composite, not one it renders at 0×0) the lowest layer's measured rate
 * (or `unmeasuredVideoBps`), plus `audioBps` per audio track.
 */
export function needOf(s: Subscriber, pubs: Iterable<Publication>, policy: SubscriptionPolicy, fallback: CompositeFallback, now: number): { needBps: number; videos: number } {
  const { unmeasuredVideoBps, audioBps } = fallback.options;
  let needBps = 0;
  let videos = 0;
  const who = { id: s.id, participant: s.owner, compositeFallback: false };
  for (const pub of pubs) {
    if (isComposite(pub) || !policy.subscribes(who, { id: pub.id, participant: pub.owner, kind: pub.kind, streamId: pub.streamId })) continue;
    if (pub.kind === 'audio') {
      needBps += audioBps;
      continue;
    }
    const render = s.owner.renderSizes.get(renderKey(pub.owner.id, pub.streamId));
    if (render && (render.width === 0 || render.height === 0)) continue;
    const lowest = pub.monitor.layers(now)[0];
    needBps += lowest && lowest.arriving && lowest.bitrateBps > 0 ? lowest.bitrateBps : unmeasuredVideoBps;
    videos++;
  }
  return { needBps, videos };
}

/** The action of a decision about `s`. */
export function fallbackAction(s: Subscriber, d: FallbackDecision): SfuAction {
  return { type: 'composite-fallback', subscriber: s.id, participant: s.owner.id, on: d.on, reason: d.reason, estimateBps: d.estimateBps, needBps: Math.round(d.needBps) };
}

/**
 * Samples every browser subscriber; `changed` is called for each whose path changed (the core
 * re-applies its policy to it), after its action was pushed to `out`.
 */
export function fallbackTick(fallback: CompositeFallback, subscribers: Iterable<Subscriber>, pubs: readonly Publication[], policy: SubscriptionPolicy, now: number, out: SfuAction[], changed: (s: Subscriber) => void): void {
  for (const s of subscribers) {
    if (s.owner.kind !== 'browser') continue;
    const { needBps, videos } = needOf(s, pubs, policy, fallback, now);
    const d = fallback.sample(s.id, { estimateBps: s.estimate.estimate(now), needBps, videos, nacks: s.nacks }, now);
    s.nacks = 0;
    if (!d) continue;
    out.push(fallbackAction(s, d));
    changed(s);
  }
}
