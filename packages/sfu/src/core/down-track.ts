/**
 * The SFU's forwarding logic for one publication to one subscriber (a "down track"), sans-I/O:
 * for each RTP packet of the publication's simulcast layers, whether to forward it and with which
 * sequence number and timestamp, so the subscriber sees a single, continuous stream (sequence
 * numbers without gaps of our making, timestamps monotonic) on one outgoing SSRC across layer
 * switches and pauses. A switch waits for a keyframe on the target layer and asks for one (PLI,
 * RFC 4585 §6.3.1), at most once per `keyframeIntervalMs` per layer.
 *
 * A down track's *source* is always a layer index of its publication (0 = lowest; 0 without
 * simulcast). What the packet looks like on the wire is the sink's business: werift builds its
 * own header, a local RTP sink rewrites the bytes (../rtp/rtp-header.ts `rewriteRtp`).
 */
import { seqNewer } from '../rtp/rtp-header.js';

/** Options of {@link DownTrack}. */
export interface DownTrackOptions {
  /** SSRC the subscriber receives on (a uint32, chosen by the core; werift senders use their own). */
  outSsrc: number;
  /** RTP clock rate of the publication, Hz: 90,000 for video, 48,000 for Opus. */
  clockRate: number;
  /** Video (switches wait for a keyframe) or audio (forward everything of the one layer). */
  kind: 'video' | 'audio';
  /** Minimum time between this down track's keyframe requests for one layer, ms. Default 1000. */
  keyframeIntervalMs?: number;
}

/**
 * What {@link DownTrack.route} decided for one packet. One object per down track, overwritten by
 * every call: read it before the next call, do not keep it.
 */
export interface RouteResult {
  /** Forward the packet, with {@link sequenceNumber} and {@link timestamp}. */
  forward: boolean;
  /** Outgoing 16-bit sequence number (when {@link forward}). */
  sequenceNumber: number;
  /** Outgoing 32-bit timestamp, in the publication's clock rate (when {@link forward}). */
  timestamp: number;
  /** A layer to ask the publisher a keyframe for (send a PLI), or -1 for none. */
  requestKeyframe: number;
}

interface Mapping {
  /** Layer currently forwarded. */
  layer: number;
  /** Added to the source sequence number (mod 2^16). */
  seqOffset: number;
  /** Added to the source timestamp (mod 2^32). */
  tsOffset: number;
}

export class DownTrack {
  private mapping: Mapping | null = null;
  /** Layer the subscriber should get; the switch happens at its next keyframe. */
  private target: number | null = null;
  private lastOut: { seq: number; ts: number; at: number } | null = null;
  private lastSourceSeq = -1;
  /** This down track's keyframe requests per layer, at most one per `keyframeIntervalMs`. */
  private readonly keyframeLimiter: KeyframeRequestLimiter;
  private readonly result: RouteResult = { forward: false, sequenceNumber: 0, timestamp: 0, requestKeyframe: -1 };
  /** Packets forwarded and dropped, layer switches and keyframe requests, since creation. */
  readonly stats = { forwarded: 0, dropped: 0, switches: 0, keyframeRequests: 0 };

  constructor(readonly options: DownTrackOptions) {
    this.keyframeLimiter = new KeyframeRequestLimiter(options.keyframeIntervalMs ?? 1000);
  }

  /** The layer being forwarded now, if any. */
  get currentSource(): number | null {
    return this.mapping?.layer ?? null;
  }

  /** The layer a switch waits for (its keyframe), if any. */
  get targetSource(): number | null {
    return this.target;
  }

  /**
   * Stops forwarding (the subscriber does not render the track). Sequence numbers and
   * timestamps continue from the last packet sent when {@link selectLayer} resumes.
   */
  pause(): void {
    this.mapping = null;
    this.target = null;
  }

  /**
   * Chooses the layer to forward. For video the change takes effect at that layer's next
   * keyframe; a keyframe request is returned when one is needed now.
   * @param now ms
   * @returns the layer to send a PLI for, if any
   */
  selectLayer(layer: number, now: number): number | undefined {
    if (this.mapping?.layer === layer && this.target === null) return undefined;
    if (this.target === layer) return this.options.kind === 'audio' ? undefined : this.keyframeRequest(layer, now);
    if (this.mapping?.layer === layer) {
      this.target = null; // back to the layer still forwarded: no switch needed
      return undefined;
    }
    this.target = layer;
    if (this.options.kind === 'audio') return undefined;
    return this.keyframeRequest(layer, now);
  }

  /**
   * One RTP packet of layer `layer`: whether to forward it, and with which sequence number and
   * timestamp (the outgoing SSRC is {@link DownTrackOptions.outSsrc}).
   * @param keyframe called at most once, only when a switch waits on this packet
   * @param now ms
   * @returns this down track's result object (overwritten by the next call)
   */
  route(layer: number, sequenceNumber: number, timestamp: number, keyframe: () => boolean, now: number): Readonly<RouteResult> {
    const r = this.result;
    r.forward = false;
    r.requestKeyframe = -1;
    if (this.target !== null && layer === this.target) {
      if (this.options.kind === 'audio' || keyframe()) this.switchTo(layer, sequenceNumber, timestamp, now);
      else if (this.mapping === null) {
        // Nothing forwarded yet: keep asking for the keyframe we wait for.
        r.requestKeyframe = this.keyframeRequest(layer, now) ?? -1;
        this.stats.dropped++;
        return r;
      }
    }
    const m = this.mapping;
    if (!m || layer !== m.layer) {
      this.stats.dropped++;
      return r;
    }
    // Old or duplicate packets (reordering, retransmission) keep their place in sequence space.
    const seq = (sequenceNumber + m.seqOffset) & 0xffff;
    const ts = (timestamp + m.tsOffset) >>> 0;
    if (this.lastSourceSeq < 0 || seqNewer(sequenceNumber, this.lastSourceSeq)) {
      this.lastSourceSeq = sequenceNumber;
      const last = (this.lastOut ??= { seq, ts, at: now });
      last.seq = seq;
      last.ts = ts;
      last.at = now;
    }
    this.stats.forwarded++;
    r.forward = true;
    r.sequenceNumber = seq;
    r.timestamp = ts;
    return r;
  }

  /**
   * The source of `layer` started over (a new SSRC, RFC 3550 §8: a camera pull restarted, with new
   * sequence numbers and timestamps): forwarding it resumes at its next keyframe, our sequence
   * numbers and timestamps continuing from the last packet sent.
   */
  sourceRestarted(layer: number): void {
    if (this.mapping?.layer !== layer) return;
    this.mapping = null;
    this.target = layer;
  }

  /** Waits for the first keyframe of `layer` with nothing forwarded (a new or resumed subscription). */
  awaitsKeyframe(layer: number): boolean {
    return this.mapping === null && this.target === layer && this.options.kind === 'video';
  }

  /**
   * Starts forwarding `layer` with a kept keyframe of `count` packets
   * ({@link KeyframeCache}) put right before the live packet `sequenceNumber`/`timestamp` (the
   * first packet of a new frame): the kept packets get consecutive sequence numbers ending just
   * before the live packet's, and one timestamp `frameTicks` before it, so the subscriber sees a
   * keyframe followed by the live stream, without a gap of our making. Call only when
   * {@link awaitsKeyframe}; then route the live packet as usual.
   * @param frameTicks the duration of one frame in the clock rate (90 kHz ticks)
   * @param now ms
   * @returns the sequence number of the first kept packet (the others follow) and their timestamp
   */
  primeFromCache(layer: number, count: number, sequenceNumber: number, timestamp: number, frameTicks: number, now: number): { sequenceNumber: number; timestamp: number } {
    const prev = this.lastOut;
    let first: number;
    let ts: number;
    if (prev) {
      first = (prev.seq + 1) & 0xffff;
      ts = (prev.ts + Math.max(1, Math.round(((now - prev.at) * this.options.clockRate) / 1000))) >>> 0;
    } else {
      first = (sequenceNumber - count) & 0xffff;
      ts = (timestamp - frameTicks) >>> 0;
    }
    if (this.mapping) this.stats.switches++;
    this.mapping = { layer, seqOffset: (first + count - sequenceNumber) & 0xffff, tsOffset: (ts + frameTicks - timestamp) >>> 0 };
    this.target = null;
    this.lastSourceSeq = (sequenceNumber - 1) & 0xffff;
    this.lastOut = { seq: (first + count - 1) & 0xffff, ts, at: now };
    this.stats.forwarded += count;
    return { sequenceNumber: first, timestamp: ts };
  }

  private switchTo(layer: number, seq: number, ts: number, now: number): void {
    const prev = this.lastOut;
    let seqOffset = 0;
    let tsOffset = 0;
    if (prev) {
      // Continue right after the last packet sent: next sequence number, and a timestamp
      // advanced by the wall time since, in the track's clock (at least one tick).
      seqOffset = (prev.seq + 1 - seq) & 0xffff;
      const elapsed = Math.max(1, Math.round(((now - prev.at) * this.options.clockRate) / 1000));
      tsOffset = (prev.ts + elapsed - ts) >>> 0;
    }
    if (this.mapping) this.stats.switches++;
    this.mapping = { layer, seqOffset, tsOffset };
    this.target = null;
    this.lastSourceSeq = (seq - 1) & 0xffff;
  }

  private keyframeRequest(layer: number, now: number): number | undefined {
    if (!this.keyframeLimiter.allow(layer, now)) return undefined;
    this.stats.keyframeRequests++;
    return layer;
  }
}

/**
 * Keyframe requests toward a publisher, aggregated over all its subscribers: at most one PLI
 * per layer per `intervalMs` (default 1000 ms), however many subscribers ask.
 */
export class KeyframeRequestLimiter {
  private readonly last = new Map<number, number>();
  /** @param intervalMs minimum time between two allowed requests for one layer, ms; default 1000 */
  constructor(private readonly intervalMs = 1000) {}

  /** @returns true when a PLI for `layer` may be sent at `now` (ms), and records it */
  allow(layer: number, now: number): boolean {
    const prev = this.last.get(layer);
    if (prev !== undefined && now - prev < this.intervalMs) return false;
    this.last.set(layer, now);
    return true;
  }
}
