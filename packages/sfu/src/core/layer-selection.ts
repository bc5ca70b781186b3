/**
 * Simulcast layer selection, sans-I/O: which layer (RFC 8853 rid) of a published video track
 * each subscriber should get, from the size at which it renders the video (adaptive stream)
 * and the bandwidth estimate toward it (REMB, draft-alvestrand-rmcat-remb), and which layers
 * the publisher must keep sending (dynacast). The SFU adapter feeds packets and the time in ms.
 */

/** What is known about one simulcast layer; layers are ordered from lowest to highest. */
export interface LayerInfo {
  /** The RTP stream id (a=rid), e.g. `q`, `h`, `f`; `''` without simulcast. */
  rid: string;
  /** Frame size of the layer's last keyframe, pixels; undefined until one arrived. */
  width?: number;
  height?: number;
  /** Packets of the layer arrive (it is not paused or dropped by the publisher). */
  arriving: boolean;
  /** Measured bitrate over the last window, bps; 0 when not measured. */
  bitrateBps: number;
  /** Expected bitrate when not measured (paused layers), bps. */
  nominalBps: number;
}

/** One subscriber's view of the track. */
export interface SubscriberView {
  /** Render size in device pixels (undefined: unknown, take the top layer; 0×0: not visible). */
  render?: { width: number; height: number } | undefined;
  /** Bandwidth estimate toward the subscriber, bps (undefined or 0: unknown). */
  estimateBps?: number | undefined;
}

/** Result of {@link chooseLayer}: layer indices, or null for nothing. */
export interface LayerChoice {
  /** The layer this subscriber should get (drives dynacast). */
  desired: number | null;
  /** The layer to forward now (the desired one, or the best arriving one until it arrives). */
  forward: number | null;
}

/** A layer "covers" a render size when it has at least this share of its pixels in each dimension. */
export const COVER_RATIO = 0.8;
/**
 * A receiver's REMB estimate tracks what it receives (libwebrtc caps it near 1.5× the incoming
 * rate), so it cannot vouch for a layer never sent. Hence: an estimate below
 * `CONGESTED_RATIO` × the forwarded layer's rate means congestion (go down to a layer that fits);
 * at least `HEADROOM_RATIO` × means room to try one layer up; in between, hold.
 */
export const CONGESTED_RATIO = 0.8;
export const HEADROOM_RATIO = 1.2;

/** Width and height of layer `i`, measured or derived from a measured one (each layer doubles the one below). */
function dims(layers: readonly LayerInfo[], i: number): { width: number; height: number } | undefined {
  const own = layers[i]!;
  if (own.width !== undefined && own.height !== undefined) return { width: own.width, height: own.height };
  for (let j = 0; j < layers.length; j++) {
    const l = layers[j]!;
    if (l.width === undefined || l.height === undefined) continue;
    const f = 2 ** (i - j);
    return { width: Math.round(l.width * f), height: Math.round(l.height * f) };
  }
  return undefined;
}

/**
 * Chooses a layer for one subscriber.
 * @param current the layer forwarded now, or null
 */
export function chooseLayer(layers: readonly LayerInfo[], view: SubscriberView, current: number | null): LayerChoice {
  if (layers.length === 0) return { desired: null, forward: null };
  const top = layers.length - 1;
  const render = view.render;
  if (render && (render.width === 0 || render.height === 0)) return { desired: null, forward: null };
  let desired = top;
  if (render) {
    for (let i = 0; i <= top; i++) {
      const d = dims(layers, i);
      if (!d) break; // nothing measured yet: keep the top layer
      if (d.width >= render.width * COVER_RATIO && d.height >= render.height * COVER_RATIO) {
        desired = i;
        break;
      }
    }
  }
  const estimate = view.estimateBps ?? 0;
  if (estimate > 0 && current !== null && current < layers.length) {
    const rate = (i: number) => layers[i]!.bitrateBps || layers[i]!.nominalBps;
    let cap = current;
    if (estimate < rate(current) * CONGESTED_RATIO) {
      while (cap > 0 && rate(cap) > estimate) cap--;
    } else if (estimate >= rate(current) * HEADROOM_RATIO) cap = current + 1;
    desired = Math.min(desired, cap);
  }
  const arriving = (i: number) => layers[i]!.arriving;
  let forward: number = desired;
  if (!arriving(desired)) {
    if (current !== null && current < layers.length && arriving(current)) forward = current;
    else {
      const below = [...layers.keys()].filter((i) => i < desired && arriving(i)).pop();
      const above = [...layers.keys()].find((i) => i > desired && arriving(i));
      forward = below ?? above ?? desired;
    }
  }
  return { desired, forward };
}

/**
 * Per-layer bitrate and keyframe size of one published track, from the packets that arrive.
 * Bitrates are averaged over windows of at least `windowMs` (default 1000 ms); a layer with no
 * packet for `windowMs` counts as not arriving.
 */
export class LayerMonitor {
  private readonly bytes: number[];
  private readonly lastPacketAt: number[];
  private readonly rates: number[];
  private windowStart: number | null = null;
  readonly sizes: ({ width: number; height: number } | undefined)[];

  constructor(
    readonly rids: readonly string[],
    private readonly nominalBps: readonly number[],
    private readonly windowMs = 1000,
  ) {
    this.bytes = rids.map(() => 0);
    this.lastPacketAt = rids.map(() => -Infinity);
    this.rates = rids.map(() => 0);
    this.sizes = rids.map(() => undefined);
  }

  /** One RTP packet of layer `i`, `length` bytes, at `now` ms; `size` when it starts a keyframe. */
  packet(i: number, length: number, now: number, size?: { width: number; height: number }): void {
    this.windowStart ??= now;
    this.bytes[i]! += length;
    this.lastPacketAt[i] = now;
    if (size) this.sizes[i] = size;
  }

  /** The layers as {@link chooseLayer} wants them, at `now` ms. */
  layers(now: number): LayerInfo[] {
    if (this.windowStart !== null && now - this.windowStart >= this.windowMs) {
      const dt = (now - this.windowStart) / 1000;
      for (let i = 0; i < this.rids.length; i++) {
        this.rates[i] = (this.bytes[i]! * 8) / dt;
        this.bytes[i] = 0;
      }
      this.windowStart = now;
    }
    return this.rids.map((rid, i) => {
      const size = this.sizes[i];
      const arriving = now - this.lastPacketAt[i]! < this.windowMs;
      return {
        rid,
        ...(size ? { width: size.width, height: size.height } : {}),
        arriving,
        bitrateBps: arriving ? Math.round(this.rates[i]!) : 0,
        nominalBps: this.nominalBps[i] ?? 0,
      };
    });
  }
}
