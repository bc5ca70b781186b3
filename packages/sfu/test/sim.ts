/**
 * A manual-clock harness for the SFU core: simulated publishers that send one RTP packet per
 * frame and layer (VP8 payloads, keyframes with their frame size), obey the core's keyframe
 * requests and dynacast, and a sink that records what is forwarded. No werift, no sockets.
 */
import { SfuCore, type SubscriberFeedback } from '../src/core/sfu-core.js';
import type { ForwardSink, PublicationRef, PublicationSpec, RtpMeta, SfuAction, SfuCoreOptions, SubscriptionRef } from '../src/core/sfu-core-types.js';
import { OPUS } from '../src/rtp/codec.js';
import { VP8, isVp8Keyframe } from '../src/rtp/vp8.js';

/** A VP8 payload (RFC 7741 descriptor with a PictureID; a keyframe carries its frame size, RFC 6386 §9.1). */
export function vp8Payload(keyframe: boolean, size?: { width: number; height: number }): Uint8Array {
  const p = new Uint8Array(16);
  p.set([0x90, 0x80, 0x81, 0x23, keyframe ? 0x50 : 0x51, 0x02, 0x00]);
  if (keyframe && size) p.set([0x9d, 0x01, 0x2a, size.width & 0xff, size.width >> 8, size.height & 0xff, size.height >> 8], 7);
  return p;
}

/** One forwarded packet as the sink saw it. */
export interface Forward {
  subscriber: string;
  publication: string;
  layer: number;
  keyframe: boolean;
  sequenceNumber: number;
  timestamp: number;
  at: number;
}

interface SimLayer {
  rid: string;
  ssrc: number;
  width: number;
  height: number;
  /** Bytes per frame (one packet per frame). */
  bytes: number;
  seq: number;
  ts: number;
  keyframeDue: boolean;
  active: boolean;
}

/** What the simulated publisher sends: the packet's layer and whether it is a keyframe. */
interface SimPacket {
  layer: number;
  keyframe: boolean;
}

export class SimPublication {
  ref!: PublicationRef;
  /** Audio level (RFC 6464, -dBov) of each audio packet; undefined: none carried. */
  level: number | undefined;
  constructor(
    readonly id: string,
    readonly participant: string,
    readonly kind: 'audio' | 'video',
    readonly layers: SimLayer[],
  ) {}
}

export class Sim {
  now = 0;
  readonly core: SfuCore;
  readonly actions: SfuAction[] = [];
  readonly forwards: Forward[] = [];
  readonly pubs = new Map<string, SimPublication>();
  private nextSsrc = 0x1000;
  private lastTick = 0;
  private readonly sink: ForwardSink<SimPacket> = {
    forward: (s: SubscriptionRef, p: SimPacket, sequenceNumber: number, timestamp: number) =>
      this.forwards.push({ subscriber: s.subscriber, publication: s.publication.id, layer: p.layer, keyframe: p.keyframe, sequenceNumber, timestamp, at: this.now }),
  };

  constructor(options: SfuCoreOptions = {}) {
    this.core = new SfuCore(options);
  }

  /** Records actions and plays the publisher's part: keyframes when asked, layers paused by dynacast. */
  apply(actions: readonly SfuAction[]): readonly SfuAction[] {
    for (const a of actions) {
      this.actions.push(a);
      const pub = 'publication' in a ? this.pubs.get(a.publication.id) : undefined;
      if (a.type === 'request-keyframe' && pub) pub.layers[a.layer]!.keyframeDue = true;
      if (a.type === 'publisher-layers' && pub) {
        for (const l of pub.layers) {
          const was = l.active;
          l.active = a.rids.includes(l.rid);
          if (l.active && !was) l.keyframeDue = true; // a resumed encoder starts with a keyframe
        }
      }
    }
    return actions;
  }

  /** Actions of a type recorded since `from` (an index into {@link actions}). */
  of<T extends SfuAction['type']>(type: T, from = 0): Extract<SfuAction, { type: T }>[] {
    return this.actions.slice(from).filter((a): a is Extract<SfuAction, { type: T }> => a.type === type);
  }

  browser(id: string): void {
    this.apply(this.core.join(id, 'browser', this.now));
    this.apply(this.core.addSubscriber({ id, participant: id }, this.now));
  }

  /** A q/h/f simulcast video (320×180 … 1280×720 at 150/500/1500 kbps, 30 fps), or one layer. */
  video(id: string, participant: string, simulcast = true, extra: Partial<PublicationSpec> = {}): SimPublication {
    const spec = simulcast
      ? [
          ['q', 320, 180, 625],
          ['h', 640, 360, 2083],
          ['f', 1280, 720, 6250],
        ]
      : [['', 640, 360, 2083]];
    const layers = spec.map(([rid, width, height, bytes]) => ({ rid: rid as string, ssrc: this.nextSsrc++, width: width as number, height: height as number, bytes: bytes as number, seq: 1000, ts: 0, keyframeDue: true, active: true }));
    const pub = new SimPublication(id, participant, 'video', layers);
    this.pubs.set(id, pub);
    this.apply(this.core.publish({ id, participant, kind: 'video', streamId: `${id}-stream`, layers: layers.map((l) => ({ rid: l.rid })), codec: VP8, rembSenderSsrc: 1, ...extra }, this.now));
    pub.ref = this.core.publication(id)!;
    return pub;
  }

  audio(id: string, participant: string, level?: number): SimPublication {
    const pub = new SimPublication(id, participant, 'audio', [{ rid: '', ssrc: this.nextSsrc++, width: 0, height: 0, bytes: 120, seq: 0, ts: 0, keyframeDue: false, active: true }]);
    pub.level = level;
    this.pubs.set(id, pub);
    this.apply(this.core.publish({ id, participant, kind: 'audio', streamId: `${id}-stream`, layers: [{ rid: '' }], codec: OPUS }, this.now));
    pub.ref = this.core.publication(id)!;
    return pub;
  }

  /** Readiness of `subscriber`'s subscription to `publication` (its transport came up). */
  ready(subscriber: string, publication: string, ready = true): void {
    this.apply(this.core.subscriptionReady(this.sub(subscriber, publication), ready, this.now));
  }

  sub(subscriber: string, publication: string): SubscriptionRef {
    const s = this.core.subscription(subscriber, publication);
    if (!s) throw new Error(`no subscription ${subscriber} → ${publication}`);
    return s;
  }

  feedback(fb: SubscriberFeedback): readonly SfuAction[] {
    return this.apply(this.core.feedback(fb, this.now));
  }

  /** Advances the clock by `ms`: a frame per layer every 1000/30 ms (audio: a packet every 20 ms), a tick every 250 ms. */
  run(ms: number): void {
    const end = this.now + ms;
    while (this.now < end) {
      this.now += 10;
      for (const pub of this.pubs.values()) {
        if (pub.ref.closed) continue;
        const period = pub.kind === 'audio' ? 20 : 1000 / 30;
        if (Math.floor(this.now / period) === Math.floor((this.now - 10) / period)) continue;
        pub.layers.forEach((l, i) => (l.active ? this.send(pub, i, l) : undefined));
      }
      if (this.now - this.lastTick >= 250) {
        this.lastTick = this.now;
        this.apply(this.core.tick(this.now));
      }
    }
  }

  private send(pub: SimPublication, layer: number, l: SimLayer): void {
    const keyframe = pub.kind === 'video' && l.keyframeDue;
    l.keyframeDue = false;
    const payload = pub.kind === 'video' ? vp8Payload(keyframe, { width: l.width, height: l.height }) : new Uint8Array([0xfc, 1, 2]);
    const meta: RtpMeta = { ssrc: l.ssrc, sequenceNumber: l.seq, timestamp: l.ts >>> 0, payload, size: 12 + l.bytes, audioLevel: pub.level === undefined ? undefined : { level: pub.level, voice: true } };
    l.seq = (l.seq + 1) & 0xffff;
    l.ts += pub.kind === 'video' ? 3000 : 960;
    if (pub.kind === 'video' && keyframe !== isVp8Keyframe(payload)) throw new Error('sim: bad VP8 payload');
    this.apply(this.core.rtp(pub.ref, layer, meta, { layer, keyframe }, this.now, this.sink));
  }

  /** What `subscriber` got of `publication`, in order. */
  got(subscriber: string, publication: string): Forward[] {
    return this.forwards.filter((f) => f.subscriber === subscriber && f.publication === publication);
  }
}

/** True when the forwarded sequence numbers have no gap and no repeat (16-bit wrap allowed). */
export function continuous(forwards: readonly Forward[]): boolean {
  return forwards.every((f, i) => i === 0 || ((f.sequenceNumber - forwards[i - 1]!.sequenceNumber) & 0xffff) === 1);
}
