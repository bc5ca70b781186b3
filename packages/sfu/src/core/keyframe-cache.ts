/**
 * The packets of a layer's last keyframe, kept so that a new subscriber gets a picture at once
 * from a source that cannot make a keyframe when asked (an RTSP camera passed through: RTSP has
 * no PLI). Janus's streaming plugin does the same (`videobufferkf`). Sans-I/O: packets and their
 * facts in, nothing out; the core replays the packets through a down track
 * ({@link DownTrack.primeFromCache}).
 *
 * A keyframe's packets are those from a packet that starts one (the codec's `isKeyframe`: for
 * H.264 the SPS or IDR, rtp/h264.ts) up to the next packet with another RTP timestamp (RFC 3550
 * §5.1: all packets of one frame share its timestamp).
 */
import type { ForwardSink, SubscriptionRef } from './sfu-core-types.js';
import type { DownTrack } from './down-track.js';

/** Most packets kept for one keyframe (about 1.2 MB at 1200-byte packets); a larger one is not kept. */
export const KEYFRAME_CACHE_MAX_PACKETS = 1000;

/** Frame duration assumed until two frames were seen, in 90 kHz ticks: 3000 = 1/30 s. */
export const DEFAULT_FRAME_TICKS = 3000;

export class KeyframeCache {
  /** The keyframe's packets in arrival order, as the source handed them (the adapter's packet type). */
  private packets: unknown[] = [];
  /** RTP timestamp of the keyframe kept (or being collected). */
  private timestamp = 0;
  /** Still receiving packets of the keyframe (its end not seen yet). */
  private collecting = false;
  private lastTimestamp: number | undefined;
  /** RTP ticks between the last two frames (at most one second at 90 kHz), for the timestamp of a replayed keyframe. */
  frameTicks = DEFAULT_FRAME_TICKS;

  constructor(private readonly maxPackets = KEYFRAME_CACHE_MAX_PACKETS) {}

  /**
   * Whether a packet with this timestamp starts a new frame (its timestamp differs from the
   * previous packet's). Ask before {@link push}.
   */
  startsFrame(timestamp: number): boolean {
    return this.lastTimestamp !== undefined && timestamp !== this.lastTimestamp;
  }

  /** A complete keyframe is kept (and the packet at `timestamp` is not part of it). */
  readyFor(timestamp: number): boolean {
    return this.packets.length > 0 && !this.collecting && timestamp !== this.timestamp;
  }

  /** The keyframe's packets, in order (read before the next {@link push}). */
  keyframe(): readonly unknown[] {
    return this.packets;
  }

  /** Forgets the kept keyframe (its source started over with a new SSRC). */
  reset(): void {
    this.packets = [];
    this.collecting = false;
    this.lastTimestamp = undefined;
  }

  /** One packet of the layer, with its RTP timestamp and whether it starts a keyframe. */
  push(packet: unknown, timestamp: number, keyframe: boolean): void {
    const last = this.lastTimestamp;
    if (last !== undefined && timestamp !== last) {
      const ticks = (timestamp - last) >>> 0;
      if (ticks > 0 && ticks <= 90_000) this.frameTicks = ticks;
      if (this.collecting && timestamp !== this.timestamp) this.collecting = false;
    }
    this.lastTimestamp = timestamp;
    if (keyframe && !(this.collecting && timestamp === this.timestamp)) {
      this.packets = [packet];
      this.timestamp = timestamp;
      this.collecting = true;
      return;
    }
    if (!this.collecting) return;
    if (this.packets.length >= this.maxPackets) {
      this.packets = [];
      this.collecting = false;
      return;
    }
    this.packets.push(packet);
  }
}

/**
 * Forwards `cache`'s keyframe to a subscription whose down track waits for one
 * ({@link DownTrack.awaitsKeyframe}), right before the live packet `live` (the first of a new
 * frame), which the caller then routes as usual.
 * @returns the number of packets forwarded
 */
export function replayKeyframe<P>(
  cache: KeyframeCache,
  subscription: SubscriptionRef & { readonly down: DownTrack },
  layer: number,
  live: { sequenceNumber: number; timestamp: number },
  now: number,
  sink: ForwardSink<P>,
): number {
  const packets = cache.keyframe() as readonly P[];
  const first = subscription.down.primeFromCache(layer, packets.length, live.sequenceNumber, live.timestamp, cache.frameTicks, now);
  for (let j = 0; j < packets.length; j++) sink.forward(subscription, packets[j]!, (first.sequenceNumber + j) & 0xffff, first.timestamp);
  return packets.length;
}
