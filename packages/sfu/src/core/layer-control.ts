/**
 * Layer control of the SFU core, sans-I/O: which simulcast layer each subscription forwards
 * ({@link chooseLayer}: render size, the subscriber's REMB share), which layers the publisher
 * must keep sending (dynacast), keyframe requests toward publishers (rate-limited per layer), and
 * the subscribers' bandwidth estimate toward publishers that adapt their bitrate.
 */
import { chooseLayer } from './layer-selection.js';
import type { Publication, Subscriber } from './model.js';
import type { SfuAction } from './sfu-core-types.js';

/** Counters layer control moves (the core's metrics). */
export interface KeyframeCounters {
  pliSent: number;
}

/**
 * Asks the publisher for a keyframe of `layer` (PLI, RFC 4585 §6.3.1), at most once per interval
 * per layer. Nothing happens while the layer's SSRC is unknown (no packet seen, none announced).
 */
export function requestKeyframe(pub: Publication, layer: number, now: number, counters: KeyframeCounters, out: SfuAction[]): void {
  const ssrc = pub.layers[layer]?.ssrc;
  if (ssrc === undefined || !pub.limiter.allow(layer, now)) return;
  counters.pliSent++;
  out.push({ type: 'request-keyframe', publication: pub, layer, ssrc });
}

/** How many video subscriptions each subscriber forwards now. */
export function videoCounts(pubs: Iterable<Publication>): Map<Subscriber, number> {
  const counts = new Map<Subscriber, number>();
  for (const p of pubs) {
    if (p.kind !== 'video') continue;
    for (const s of p.subscriptions) if (s.down.currentSource !== null) counts.set(s.owner, (counts.get(s.owner) ?? 0) + 1);
  }
  return counts;
}

/**
 * A subscriber's bandwidth estimate for one of its videos, bps: its REMB split evenly over the
 * videos it receives (undefined when unknown).
 */
function videoShare(subscriber: Subscriber, now: number, videos: ReadonlyMap<Subscriber, number>): number | undefined {
  const total = subscriber.estimate.estimate(now);
  if (total === undefined) return undefined;
  return total / Math.max(1, videos.get(subscriber) ?? 0);
}

/**
 * Picks each ready subscription's layer from its render size and REMB share, and tells the
 * publisher which simulcast layers someone needs (`publisher-layers`, when that changed).
 */
export function selectLayersOf(pub: Publication, now: number, videos: ReadonlyMap<Subscriber, number>, counters: KeyframeCounters, out: SfuAction[]): void {
  const layers = pub.monitor.layers(now);
  const wanted = new Set<number>();
  for (const s of pub.subscriptions) {
    if (!s.ready) continue;
    const down = s.down;
    const estimateBps = videoShare(s.owner, now, videos);
    const choice = chooseLayer(layers, { render: s.renderSize, estimateBps }, down.currentSource);
    // Dynacast keeps what is forwarded too, until the desired layer arrives.
    if (choice.desired !== null) wanted.add(choice.desired);
    if (choice.forward !== null) wanted.add(choice.forward);
    if (choice.forward === null) {
      down.pause();
      continue;
    }
    if (choice.forward === down.currentSource && down.targetSource === null) continue;
    const pli = down.selectLayer(choice.forward, now);
    if (pli !== undefined) requestKeyframe(pub, pli, now, counters, out);
  }
  if (pub.layers.length < 2) return;
  const rids = pub.layers.filter((_, i) => wanted.has(i)).map((l) => l.rid);
  const key = rids.join(',');
  if (key === pub.activeRids) return;
  pub.activeRids = key;
  out.push({ type: 'publisher-layers', publication: pub, rids });
}

/** Adds video subscriptions by the rid they forward now (`-` without simulcast, `none` when paused or waiting) to `into`. */
export function layerCounts(pubs: Iterable<Publication>, into: Record<string, number>): void {
  for (const pub of pubs) {
    if (pub.kind !== 'video') continue;
    for (const s of pub.subscriptions) {
      const i = s.down.currentSource;
      const rid = i === null ? 'none' : pub.layers[i]?.rid || '-';
      into[rid] = (into[rid] ?? 0) + 1;
    }
  }
}

/**
 * A bitrate-adapting publication (PublicationSpec.adaptsBitrate, e.g. the MCU composite) is told
 * the lowest fresh REMB estimate among its subscribers and what it sends (its layers' measured
 * bitrate): a `subscriber-estimate` action at every call while one is known, and one with `null`
 * when none is left.
 */
export function reportSubscriberEstimate(pub: Publication, now: number, out: SfuAction[]): void {
  let lowest: number | null = null;
  for (const s of pub.subscriptions) {
    const e = s.owner.estimate.estimate(now);
    if (e !== undefined && (lowest === null || e < lowest)) lowest = e;
  }
  if (lowest === null && pub.reportedEstimate === null) return;
  pub.reportedEstimate = lowest;
  const sendingBps = pub.monitor.layers(now).reduce((sum, l) => sum + l.bitrateBps, 0);
  out.push({ type: 'subscriber-estimate', publication: pub, bitrateBps: lowest, sendingBps });
}
