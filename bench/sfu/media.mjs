/**
 * Synthetic media for SFU benchmarks and tests: RTP packets that look like a VP8 camera
 * (RFC 7741 payload descriptor, VP8 frame tag and keyframe start code, ~500 kbps at 30 fps,
 * a keyframe every 2 s and on request) and Opus audio (50 packets/s), without an encoder.
 *
 * Every payload ends with a 16-byte stamp, so receivers can tell what was lost and how long a
 * packet took through the server:
 *
 *   magic u32 'DSFU' | per-track packet index u32 | send time f64 (ms, {@link nowMs})
 *
 * The stamp sits at the end of the payload (after the VP8 descriptor and frame header) because
 * neither Dari nor Janus rewrites payloads. Plain ESM, werift only (no TypeScript build).
 */
import { RtpHeader, RtpPacket } from 'werift';

export const STAMP_BYTES = 16;
const MAGIC = 0x44534655; // 'DSFU'

/**
 * High-resolution wall-clock time in ms (float). Comparable across processes of one machine:
 * `performance.timeOrigin` is the wall clock at process start, `performance.now()` is monotonic.
 */
export const nowMs = () => performance.timeOrigin + performance.now();

/** Writes the stamp into the last 16 bytes of `payload`. */
function stamp(payload, index, t) {
  const o = payload.length - STAMP_BYTES;
  payload.writeUInt32BE(MAGIC, o);
  payload.writeUInt32BE(index >>> 0, o + 4);
  payload.writeDoubleBE(t, o + 8);
}

/** Reads a stamp; null when the payload has none (padding, probes, foreign packets). */
export function readStamp(payload) {
  if (!payload || payload.length < STAMP_BYTES) return null;
  const o = payload.length - STAMP_BYTES;
  if (payload.readUInt32BE(o) !== MAGIC) return null;
  return { index: payload.readUInt32BE(o + 4), sentAt: payload.readDoubleBE(o + 8) };
}

/**
 * A synthetic publisher: calls `sendVideo(RtpPacket)` about 30 times a second (a frame, split in
 * packets of at most `mtu` payload bytes) and `sendAudio(RtpPacket)` every 20 ms.
 *
 * Video frames: keyframe (`keyframeBytes`) every `keyframeIntervalMs` and at the next frame after
 * {@link requestKeyframe}; delta frames sized so the average is `videoKbps`. Each packet carries
 * the RFC 7741 descriptor `X=1 S PID=0 | I=1 | M=1 PictureID(15)`; the first packet of a frame
 * has the VP8 frame tag (P bit 0 for a keyframe), and for keyframes the start code 9d 01 2a and
 * a 640x360 size, as a real VP8 keyframe (what Janus's and Dari's keyframe detectors look at).
 */
export class SyntheticPublisher {
  constructor({
    videoKbps = 500,
    fps = 30,
    keyframeIntervalMs = 2000,
    keyframeBytes = 12_000,
    mtu = 1100,
    audioPacketMs = 20,
    audioBytes = 120,
    sendVideo,
    sendAudio,
  }) {
    Object.assign(this, { videoKbps, fps, keyframeIntervalMs, keyframeBytes, mtu, audioPacketMs, audioBytes, sendVideo, sendAudio });
    const perInterval = (videoKbps * 1000 * keyframeIntervalMs) / 8000; // bytes per keyframe interval
    const framesPerInterval = Math.max(2, Math.round((fps * keyframeIntervalMs) / 1000));
    this.deltaBytes = Math.max(200, Math.round((perInterval - keyframeBytes) / (framesPerInterval - 1)));
    this.video = { seq: (Math.random() * 0xffff) | 0, ts: (Math.random() * 0xffffffff) >>> 0, index: 0, pictureId: (Math.random() * 0x7fff) | 0 };
    this.audio = { seq: (Math.random() * 0xffff) | 0, ts: (Math.random() * 0xffffffff) >>> 0, index: 0 };
    this.keyframeWanted = true;
    this.lastKeyframeAt = -Infinity;
    /** Counters; `window*` only count packets whose send time is inside {@link setWindow}. */
    this.stats = { videoPackets: 0, audioPackets: 0, frames: 0, keyframes: 0, keyframeRequests: 0, bytes: 0 };
    this.window = null;
    this.windowCounts = { video: 0, audio: 0, keyframes: 0, keyframeRequests: 0 };
    this.timers = [];
    this.running = false;
  }

  /** Only packets sent inside [t0, t1) (ms, {@link nowMs}) count in `windowCounts`. */
  setWindow(t0, t1) {
    this.window = { t0, t1 };
    this.windowCounts = { video: 0, audio: 0, keyframes: 0, keyframeRequests: 0 };
  }

  inWindow(t) {
    return this.window !== null && t >= this.window.t0 && t < this.window.t1;
  }

  /** A PLI/FIR arrived: the next frame is a keyframe. */
  requestKeyframe() {
    this.stats.keyframeRequests++;
    if (this.inWindow(nowMs())) this.windowCounts.keyframeRequests++;
    this.keyframeWanted = true;
  }

  start() {
    if (this.running) return;
    this.running = true;
    const start = performance.now();
    // Deadline-driven loops: frames are sent when due (catching up at most 3 frames after a
    // stall, the rest is skipped), so timer jitter does not change the average rate.
    const loop = (slot, periodMs, send) => {
      let next = start;
      const tick = () => {
        if (!this.running) return;
        const now = performance.now();
        let n = 0;
        while (next <= now && n < 3) {
          send();
          next += periodMs;
          n++;
        }
        if (next <= now) next = now + periodMs; // too far behind: skip
        this.timers[slot] = setTimeout(tick, Math.max(0, next - performance.now()));
      };
      tick();
    };
    loop(0, 1000 / this.fps, () => this.sendFrame());
    loop(1, this.audioPacketMs, () => this.sendAudioPacket());
  }

  stop() {
    this.running = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }

  sendFrame() {
    const t = nowMs();
    const v = this.video;
    const key = this.keyframeWanted || t - this.lastKeyframeAt >= this.keyframeIntervalMs;
    if (key) {
      this.keyframeWanted = false;
      this.lastKeyframeAt = t;
      this.stats.keyframes++;
      if (this.inWindow(t)) this.windowCounts.keyframes++;
    }
    const frameBytes = key ? this.keyframeBytes : this.deltaBytes;
    const packets = Math.max(1, Math.ceil(frameBytes / this.mtu));
    const per = Math.ceil(frameBytes / packets);
    v.pictureId = (v.pictureId + 1) & 0x7fff;
    for (let i = 0; i < packets; i++) {
      const first = i === 0;
      const size = Math.max(per, 4 + (first ? (key ? 10 : 3) : 0) + STAMP_BYTES);
      const payload = Buffer.alloc(size, 0x5a);
      // RFC 7741 §4.2 payload descriptor: X=1, S on the first packet, PID=0; I=1; M=1 + 15-bit PictureID.
      payload[0] = 0x80 | (first ? 0x10 : 0);
      payload[1] = 0x80;
      payload[2] = 0x80 | (v.pictureId >> 8);
      payload[3] = v.pictureId & 0xff;
      if (first) {
        // VP8 frame tag (RFC 6386 §9.1): P (0 = keyframe), version 0, show_frame 1, first_part_size.
        const firstPart = Math.min(frameBytes, 0x7ffff);
        payload[4] = (key ? 0 : 1) | (1 << 4) | ((firstPart & 0x7) << 5);
        payload[5] = (firstPart >> 3) & 0xff;
        payload[6] = (firstPart >> 11) & 0xff;
        if (key) {
          payload[7] = 0x9d; // start code
          payload[8] = 0x01;
          payload[9] = 0x2a;
          payload.writeUInt16LE(640, 10); // width, scale 0
          payload.writeUInt16LE(360, 12); // height, scale 0
        }
      }
      stamp(payload, v.index++, t);
      const header = new RtpHeader({ payloadType: 96, sequenceNumber: v.seq, timestamp: v.ts, marker: i === packets - 1 });
      v.seq = (v.seq + 1) & 0xffff;
      this.stats.videoPackets++;
      this.stats.bytes += size;
      if (this.inWindow(t)) this.windowCounts.video++;
      this.sendVideo(new RtpPacket(header, payload));
    }
    this.stats.frames++;
    v.ts = (v.ts + Math.round(90000 / this.fps)) >>> 0;
  }

  sendAudioPacket() {
    const t = nowMs();
    const a = this.audio;
    const payload = Buffer.alloc(Math.max(this.audioBytes, 1 + STAMP_BYTES), 0x33);
    payload[0] = 0xfc; // Opus TOC: config 31 (CELT FB 20 ms), mono, one frame
    stamp(payload, a.index++, t);
    const header = new RtpHeader({ payloadType: 111, sequenceNumber: a.seq, timestamp: a.ts, marker: false });
    a.seq = (a.seq + 1) & 0xffff;
    a.ts = (a.ts + (48000 * this.audioPacketMs) / 1000) >>> 0;
    this.stats.audioPackets++;
    this.stats.bytes += payload.length;
    if (this.inWindow(t)) this.windowCounts.audio++;
    this.sendAudio(new RtpPacket(header, payload));
  }
}

/**
 * Latency histogram: 10 µs bins up to 100 ms, then 1 ms bins up to 10 s, then one overflow bin.
 * Cheap to fill per packet and to merge across processes (bin counts add).
 */
export class LatencyHistogram {
  static FINE = 10_000; // 0–100 ms in 0.01 ms
  static COARSE = 9_900; // 100 ms–10 s in 1 ms
  constructor(bins) {
    this.bins = bins ?? new Uint32Array(LatencyHistogram.FINE + LatencyHistogram.COARSE + 1);
    this.count = 0;
    this.sum = 0;
    this.max = 0;
  }

  add(ms) {
    const v = ms < 0 ? 0 : ms;
    let i;
    if (v < 100) i = Math.floor(v * 100);
    else if (v < 10_000) i = LatencyHistogram.FINE + Math.floor(v - 100);
    else i = this.bins.length - 1;
    this.bins[i]++;
    this.count++;
    this.sum += v;
    if (v > this.max) this.max = v;
  }

  /** Upper edge of the bin holding quantile q (0..1), ms; null when empty. */
  quantile(q) {
    if (this.count === 0) return null;
    const target = Math.max(1, Math.ceil(q * this.count));
    let acc = 0;
    for (let i = 0; i < this.bins.length; i++) {
      acc += this.bins[i];
      if (acc >= target) return i < LatencyHistogram.FINE ? (i + 1) / 100 : i < this.bins.length - 1 ? 100 + (i - LatencyHistogram.FINE) + 1 : this.max;
    }
    return this.max;
  }

  /** Sparse form for IPC: [[bin, count], ...]. */
  toJSON() {
    const sparse = [];
    for (let i = 0; i < this.bins.length; i++) if (this.bins[i]) sparse.push([i, this.bins[i]]);
    return { sparse, count: this.count, sum: this.sum, max: this.max };
  }

  merge(json) {
    for (const [i, c] of json.sparse) this.bins[i] += c;
    this.count += json.count;
    this.sum += json.sum;
    this.max = Math.max(this.max, json.max);
  }
}

/**
 * Per-subscriber-stream receive statistics inside a measurement window.
 *
 * - `received`: unique stamped packets whose send time is in [t0, t1) (duplicates from
 *   retransmission counted once); loss = 1 − received / packets the publisher sent in the window
 *   (publisher index gaps, so a stream that stalls completely counts as 100 % loss);
 * - `rtpLost`: RTP sequence-number gaps seen by this receiver in the window (RFC 3550 A.3 style);
 * - `forwarded`: every RTP packet that arrived in the window by receive time (what the server sent).
 */
export class StreamStats {
  constructor(kind, latency) {
    this.kind = kind;
    this.latency = latency; // shared LatencyHistogram
    this.total = 0;
    this.firstAt = null;
    this.lastAt = null;
    this.reset(null);
  }

  reset(window) {
    this.window = window;
    this.seen = window ? new Set() : null;
    this.received = 0;
    this.forwarded = 0;
    this.maxExtSeq = null;
    this.baseExtSeq = null;
    this.seqReceived = 0;
    this.cycles = 0;
    this.lastSeq = null;
  }

  /** One RTP packet from the server. */
  onRtp(rtp) {
    const t = nowMs();
    this.total++;
    if (this.firstAt === null) this.firstAt = t;
    this.lastAt = t;
    const w = this.window;
    if (!w) return;
    if (t >= w.t0 && t < w.t1) {
      this.forwarded++;
      // Sequence-gap accounting over packets received inside the window.
      const seq = rtp.header.sequenceNumber;
      if (this.lastSeq !== null && seq < 0x1000 && this.lastSeq > 0xf000) this.cycles += 0x10000;
      const ext = this.cycles + seq;
      if (this.lastSeq === null || ((seq - this.lastSeq) & 0xffff) < 0x8000) this.lastSeq = seq;
      if (this.baseExtSeq === null) this.baseExtSeq = ext;
      if (this.maxExtSeq === null || ext > this.maxExtSeq) this.maxExtSeq = ext;
      this.seqReceived++;
    }
    const s = readStamp(rtp.payload);
    if (!s || s.sentAt < w.t0 || s.sentAt >= w.t1) return;
    if (this.seen.has(s.index)) return;
    this.seen.add(s.index);
    this.received++;
    this.latency.add(t - s.sentAt);
  }

  /** Summary after the window (and a drain delay). `sent`: packets of this kind the publisher sent in it. */
  summary(sent) {
    const expected = this.maxExtSeq === null ? 0 : this.maxExtSeq - this.baseExtSeq + 1;
    return {
      kind: this.kind,
      received: this.received,
      sent,
      lossPct: sent > 0 ? Math.max(0, (100 * (sent - this.received)) / sent) : null,
      rtpLost: Math.max(0, expected - this.seqReceived),
      rtpExpected: expected,
      forwarded: this.forwarded,
    };
  }
}
