/**
 * The SFU's forwarding logic for one published track to one subscriber ("down track"), sans-I/O:
 * RTP packets of the publisher's simulcast layers go in with the time, the packets to send to
 * the subscriber come out, rewritten onto one outgoing SSRC so the subscriber sees a single,
 * continuous stream (sequence numbers without gaps of our making, timestamps monotonic) across
 * layer switches. A switch waits for a keyframe on the target layer and asks for one
 * (PLI, RFC 4585 §6.3.1), at most once per `keyframeIntervalMs` per source layer.
 */
import { isVp8Keyframe, readRtpHeader, rewriteRtp, seqNewer } from './rtp.js';

export interface DownTrackOptions {
  /** SSRC the subscriber receives on. */
  outSsrc: number;
  /** RTP clock rate, Hz; 90000 for video, 48000 for Opus. */
  clockRate: number;
  /** Video (keyframe-gated switches) or audio (forward everything of the one layer). */
  kind: 'video' | 'audio';
  /** Minimum time between keyframe requests for this track, ms. Default 1000. */
  keyframeIntervalMs?: number;
  /** Keyframe detector for the codec; default VP8 (RFC 7741). */
  isKeyframe?: (payload: Uint8Array) => boolean;
}

/** What {@link DownTrack.push} asks the adapter to do. */
export interface ForwardResult {
  /** The rewritten packet to send to the subscriber, if any. */
  packet?: Uint8Array;
  /** Ask the publisher for a keyframe on this source SSRC (send a PLI). */
  requestKeyframe?: number;
}

interface Mapping {
  /** Source SSRC currently forwarded. */
  ssrc: number;
  /** Added to the source sequence number (mod 2^16). */
  seqOffset: number;
  /** Added to the source timestamp (mod 2^32). */
  tsOffset: number;
}

export class DownTrack {
  private mapping: Mapping | null = null;
  /** Source SSRC the subscriber should get; the switch happens at its next keyframe. */
  private target: number | null = null;
  private lastOut: { seq: number; ts: number; at: number } | null = null;
  private lastSourceSeq = -1;
  /** Keyframe requests per source, at most one per `keyframeIntervalMs`. */
  private readonly keyframeLimiter: KeyframeRequestLimiter;
  private readonly isKeyframe: (payload: Uint8Array) => boolean;
  /** Packets forwarded and dropped, for metrics. */
  readonly stats = { forwarded: 0, dropped: 0, switches: 0, keyframeRequests: 0 };

  constructor(readonly options: DownTrackOptions) {
    this.keyframeLimiter = new KeyframeRequestLimiter(options.keyframeIntervalMs ?? 1000);
    this.isKeyframe = options.isKeyframe ?? isVp8Keyframe;
  }

  /** The source being forwarded now (SSRC, or the layer id the caller passes to {@link push}), if any. */
  get currentSource(): number | null {
    return this.mapping?.ssrc ?? null;
  }

  /** The source a switch waits for (its keyframe), if any. */
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
   * Chooses the layer (source SSRC) to forward. For video the change takes effect at that
   * layer's next keyframe; a keyframe request is returned when one is needed now.
   * @param now ms
   * @returns the SSRC to send a PLI for, if any
   */
  selectLayer(ssrc: number, now: number): number | undefined {
    if (this.mapping?.ssrc === ssrc && this.target === null) return undefined;
    if (this.target === ssrc) return this.options.kind === 'audio' ? undefined : this.keyframeRequest(ssrc, now);
    if (this.mapping?.ssrc === ssrc) {
      this.target = null; // back to the layer still forwarded: no switch needed
      return undefined;
    }
    this.target = ssrc;
    if (this.options.kind === 'audio') return undefined;
    return this.keyframeRequest(ssrc, now);
  }

  /**
   * One RTP packet of the published track.
   * @param now ms
   * @param sourceSsrc the layer it came from when the caller knows it (werift may have
   *   rewritten the header's SSRC by the time we see the packet); default the header's SSRC
   */
  push(packet: Uint8Array, now: number, sourceSsrc?: number): ForwardResult {
    const h = readRtpHeader(packet);
    if (!h) return this.drop();
    const r = this.route(sourceSsrc ?? h.ssrc, h.sequenceNumber, h.timestamp, () => this.isKeyframe(packet.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength)), now);
    if (!r.out) return r.requestKeyframe === undefined ? {} : { requestKeyframe: r.requestKeyframe };
    return { packet: rewriteRtp(packet, this.options.outSsrc, r.out.sequenceNumber, r.out.timestamp) };
  }

  /**
   * The decision of {@link push} without the bytes, for adapters that hold parsed packets:
   * whether to forward a packet of `source` (SSRC or layer id) and with which sequence number
   * and timestamp (the outgoing SSRC is {@link DownTrackOptions.outSsrc}).
   * @param keyframe called at most once, only when a switch waits on this packet
   * @param now ms
   */
  route(
    source: number,
    sequenceNumber: number,
    timestamp: number,
    keyframe: () => boolean,
    now: number,
  ): { out?: { sequenceNumber: number; timestamp: number }; requestKeyframe?: number } {
    if (this.target !== null && source === this.target) {
      if (this.options.kind === 'audio' || keyframe()) this.switchTo(source, sequenceNumber, timestamp, now);
      else if (this.mapping === null) {
        // Nothing forwarded yet: keep asking for the keyframe we wait for.
        const pli = this.keyframeRequest(source, now);
        this.stats.dropped++;
        return pli === undefined ? {} : { requestKeyframe: pli };
      }
    }
    const m = this.mapping;
    if (!m || source !== m.ssrc) {
      this.stats.dropped++;
      return {};
    }
    // Old or duplicate packets (reordering, retransmission) keep their place in sequence space.
    const seq = (sequenceNumber + m.seqOffset) & 0xffff;
    const ts = (timestamp + m.tsOffset) >>> 0;
    if (this.lastSourceSeq < 0 || seqNewer(sequenceNumber, this.lastSourceSeq)) {
      this.lastSourceSeq = sequenceNumber;
      this.lastOut = { seq, ts, at: now };
    }
    this.stats.forwarded++;
    return { out: { sequenceNumber: seq, timestamp: ts } };
  }

  private switchTo(ssrc: number, seq: number, ts: number, now: number): void {
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
    this.mapping = { ssrc, seqOffset, tsOffset };
    this.target = null;
    this.lastSourceSeq = (seq - 1) & 0xffff;
  }

  private keyframeRequest(ssrc: number, now: number): number | undefined {
    if (!this.keyframeLimiter.allow(ssrc, now)) return undefined;
    this.stats.keyframeRequests++;
    return ssrc;
  }

  private drop(): ForwardResult {
    this.stats.dropped++;
    return {};
  }
}

/**
 * Keyframe requests toward a publisher, aggregated over all its subscribers: at most one PLI
 * per source SSRC per `intervalMs` (default 1000 ms), however many subscribers ask.
 */
export class KeyframeRequestLimiter {
  private readonly last = new Map<number, number>();
  constructor(private readonly intervalMs = 1000) {}

  /** @returns true when a PLI for `ssrc` may be sent now (and records it) */
  allow(ssrc: number, now: number): boolean {
    const prev = this.last.get(ssrc);
    if (prev !== undefined && now - prev < this.intervalMs) return false;
    this.last.set(ssrc, now);
    return true;
  }

}
