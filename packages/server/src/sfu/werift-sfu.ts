/**
 * The SFU's media I/O on werift (DTLS/SRTP/SCTP and ICE are werift's; what to forward where is
 * ours: {@link DownTrack}). Each participant of an `sfu` room has two werift peer connections:
 * a publisher one (the client offers its tracks) and a subscriber one (the SFU offers every
 * other participant's tracks, renegotiating when tracks come and go).
 *
 * Known werift facts handled here (see the brief): our own `iceServers` are always passed (its
 * default points at a public STUN server); loopback is only gathered with
 * `iceAdditionalHostAddresses`; PLIs are not forwarded by werift, so subscriber PLIs are relayed
 * to the publisher here, throttled to one per second per layer.
 */
import {
  RTCPeerConnection,
  MediaStreamTrack,
  RTCRtpCodecParameters,
  RtcpPayloadSpecificFeedback,
  PictureLossIndication,
  type RTCRtpTransceiver,
} from 'werift';
import type { IceCandidate, ServerMessage, SessionDescription, SfuPc } from '@dari/protocol';
import { DownTrack, KeyframeRequestLimiter } from './forwarder.js';
import { closeConnection, trackTransports } from './werift-patch.js';
import type { Logger } from '../logger.js';

export interface SfuOptions {
  /** Extra host addresses werift announces (e.g. 127.0.0.1 for loopback tests, a public IP). */
  announcedAddresses: string[];
  /** UDP port range for the SFU's ICE, inclusive; default any. */
  portRange?: [number, number] | undefined;
  logger: Logger;
  /** Sends a signaling message to a participant (by room, identity and sid). */
  send(room: string, identity: string, sid: string, message: ServerMessage): void;
}

interface Publication {
  /** The publisher's remote track (one per layer for simulcast; one here). */
  track: MediaStreamTrack;
  kind: 'audio' | 'video';
  streamId: string;
  receiverPli: (ssrc: number) => void;
  /** Subscribers' down tracks, by subscriber identity. */
  downs: Map<string, { down: DownTrack; local: MediaStreamTrack; transceiver: RTCRtpTransceiver; renderSize?: { width: number; height: number } }>;
}

interface Member {
  identity: string;
  sid: string;
  /** Our ICE candidates wait until the description they belong to has been sent. */
  described: Record<SfuPc, boolean>;
  heldCandidates: Record<SfuPc, IceCandidate[]>;
  publisher: RTCPeerConnection;
  subscriber: RTCPeerConnection;
  publications: Publication[];
  /** Subscriber renegotiation: one offer in flight at a time. */
  negotiating: boolean;
  renegotiate: boolean;
}

const VIDEO = new RTCRtpCodecParameters({
  mimeType: 'video/VP8',
  clockRate: 90000,
  rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'goog-remb' }],
});
const AUDIO = new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 });

/** One room's SFU. */
export class SfuRoom {
  private readonly members = new Map<string, Member>();
  private readonly limiter = new KeyframeRequestLimiter(1000);
  private nextSsrc = 0x10000000;

  constructor(
    readonly name: string,
    private readonly options: SfuOptions,
  ) {}

  get size(): number {
    return this.members.size;
  }

  /** Live peer connections and forwarding tracks, for leak checks and metrics. */
  stats(): { peerConnections: number; publications: number; downTracks: number } {
    let publications = 0;
    let downTracks = 0;
    for (const m of this.members.values()) {
      publications += m.publications.length;
      for (const p of m.publications) downTracks += p.downs.size;
    }
    return { peerConnections: this.members.size * 2, publications, downTracks };
  }

  /** A participant joined the room: create its two peer connections and offer what exists. */
  join(identity: string, sid: string): void {
    const existing = this.members.get(identity);
    if (existing?.sid === sid) return; // still a member from before (auto room flipping back)
    if (existing) this.leave(identity);
    const config = {
      iceServers: [],
      iceAdditionalHostAddresses: this.options.announcedAddresses,
      ...(this.options.portRange ? { icePortRange: this.options.portRange } : {}),
      codecs: { video: [VIDEO], audio: [AUDIO] },
    };
    const member: Member = {
      identity,
      sid,
      described: { publisher: false, subscriber: false },
      heldCandidates: { publisher: [], subscriber: [] },
      publisher: new RTCPeerConnection(config),
      subscriber: new RTCPeerConnection(config),
      publications: [],
      negotiating: false,
      renegotiate: false,
    };
    trackTransports(member.publisher);
    trackTransports(member.subscriber);
    this.members.set(identity, member);
    for (const [pc, name] of [[member.publisher, 'publisher'], [member.subscriber, 'subscriber']] as const) {
      pc.onIceCandidate.subscribe((c) => {
        const candidate: IceCandidate = c ? (c.toJSON() as IceCandidate) : null;
        if (member.described[name]) this.options.send(this.name, identity, sid, { type: 'sfu-candidate', pc: name, candidate });
        else member.heldCandidates[name].push(candidate);
      });
    }
    member.publisher.ontrack = (ev) => this.onPublishedTrack(member, ev.track, ev.transceiver, ev.streams[0]?.id);
    for (const other of this.members.values()) {
      if (other === member) continue;
      for (const pub of other.publications) this.subscribe(member, pub);
    }
    this.negotiate(member);
  }

  /** A participant left: close its connections and stop forwarding its tracks. */
  leave(identity: string): void {
    const m = this.members.get(identity);
    if (!m) return;
    this.members.delete(identity);
    for (const pub of m.publications) {
      for (const [subscriberId, d] of pub.downs) {
        const sub = this.members.get(subscriberId);
        if (!sub) continue;
        d.transceiver.sender.replaceTrack(null).catch(() => undefined);
        sub.subscriber.removeTrack(d.transceiver.sender);
        this.negotiate(sub);
      }
      pub.downs.clear();
      if (pub.track.ssrc !== undefined) this.limiter.forget(pub.track.ssrc);
    }
    for (const other of this.members.values()) {
      for (const pub of other.publications) pub.downs.delete(identity);
    }
    this.closing.push(closeConnection(m.publisher), closeConnection(m.subscriber));
  }

  /** Peer connections being closed (werift closes asynchronously). */
  readonly closing: Promise<unknown>[] = [];

  /** Closes every connection. */
  close(): void {
    this.closed = true;
    for (const identity of [...this.members.keys()]) this.leave(identity);
  }

  /** Set by close(): no more renegotiation (an offer started on a closing werift connection would gather new sockets after close). */
  private closed = false;

  /** An sfu-sdp or sfu-candidate from a participant. */
  async handle(identity: string, pc: SfuPc, body: { description?: SessionDescription; candidate?: IceCandidate }): Promise<void> {
    const m = this.members.get(identity);
    if (!m) return;
    const conn = pc === 'publisher' ? m.publisher : m.subscriber;
    if (body.candidate !== undefined) {
      if (body.candidate) await conn.addIceCandidate(body.candidate as never);
      return;
    }
    const d = body.description!;
    if (pc === 'publisher' && d.type === 'offer') {
      await m.publisher.setRemoteDescription(d);
      await m.publisher.setLocalDescription(await m.publisher.createAnswer());
      const local = m.publisher.localDescription!;
      this.sendDescription(m, 'publisher', { type: 'answer', sdp: local.sdp });
    } else if (pc === 'subscriber' && d.type === 'answer') {
      await m.subscriber.setRemoteDescription(d);
      m.negotiating = false;
      if (m.renegotiate) this.negotiate(m);
    }
  }

  /** `streamId`: the publisher's a=msid stream id (RFC 8830), kept on forwarded tracks. */
  private onPublishedTrack(publisher: Member, track: MediaStreamTrack, transceiver: RTCRtpTransceiver, streamId: string | undefined): void {
    const kind = track.kind === 'audio' ? 'audio' : 'video';
    const pub: Publication = {
      track,
      kind,
      streamId: streamId ?? publisher.identity,
      receiverPli: (ssrc) => void transceiver.receiver.sendRtcpPLI(ssrc).catch(() => undefined),
      downs: new Map(),
    };
    publisher.publications.push(pub);
    track.onReceiveRtp.subscribe((rtp) => {
      if (pub.downs.size === 0) return;
      const bytes = rtp.serialize();
      const now = Date.now();
      for (const d of pub.downs.values()) {
        const r = d.down.push(bytes, now, track.ssrc);
        if (r.packet) d.local.writeRtp(Buffer.from(r.packet));
        if (r.requestKeyframe !== undefined && this.limiter.allow(r.requestKeyframe, now)) pub.receiverPli(r.requestKeyframe);
      }
    });
    for (const other of this.members.values()) {
      if (other === publisher) continue;
      this.subscribe(other, pub);
      this.negotiate(other);
    }
  }

  /** Adds a forwarding track for `pub` to `subscriber`'s subscriber connection. */
  private subscribe(subscriber: Member, pub: Publication): void {
    if (pub.downs.has(subscriber.identity)) return;
    const local = new MediaStreamTrack({ kind: pub.kind });
    const transceiver = subscriber.subscriber.addTransceiver(local, { direction: 'sendonly' });
    transceiver.sender.streamId = pub.streamId;
    const down = new DownTrack({ outSsrc: this.nextSsrc++, clockRate: pub.kind === 'video' ? 90000 : 48000, kind: pub.kind });
    pub.downs.set(subscriber.identity, { down, local, transceiver });
    const now = Date.now();
    const ssrc = pub.track.ssrc;
    if (ssrc !== undefined) {
      const pli = down.selectLayer(ssrc, now);
      if (pli !== undefined && this.limiter.allow(pli, now)) pub.receiverPli(pli);
    }
    // Subscribers' PLIs go to the publisher (werift does not forward them).
    transceiver.sender.onRtcp.subscribe((rtcp) => {
      if (rtcp instanceof RtcpPayloadSpecificFeedback && rtcp.feedback instanceof PictureLossIndication && ssrc !== undefined) {
        if (this.limiter.allow(ssrc, Date.now())) pub.receiverPli(ssrc);
      }
    });
  }

  /** Adaptive stream: the subscriber's render size (device pixels) for one publication; layer choice uses it. */
  trackSettings(identity: string, publisher: string, streamId: string, width: number, height: number): void {
    const pub = this.members.get(publisher)?.publications.find((p) => p.streamId === streamId && p.kind === 'video');
    const d = pub?.downs.get(identity);
    if (d) d.renderSize = { width, height };
  }

  /** Sends a description, then the candidates gathered before it. */
  private sendDescription(m: Member, pc: SfuPc, description: SessionDescription): void {
    this.options.send(this.name, m.identity, m.sid, { type: 'sfu-sdp', pc, description });
    m.described[pc] = true;
    for (const candidate of m.heldCandidates[pc].splice(0)) this.options.send(this.name, m.identity, m.sid, { type: 'sfu-candidate', pc, candidate });
  }

  /** Sends the subscriber connection's offer, one at a time. */
  private negotiate(m: Member): void {
    if (this.closed || this.members.get(m.identity) !== m) return;
    if (m.negotiating) {
      m.renegotiate = true;
      return;
    }
    if (m.subscriber.getTransceivers().length === 0) return;
    m.negotiating = true;
    m.renegotiate = false;
    void (async () => {
      try {
        const offer = await m.subscriber.createOffer();
        if (this.closed || this.members.get(m.identity) !== m) return;
        await m.subscriber.setLocalDescription(offer);
        const local = m.subscriber.localDescription!;
        this.sendDescription(m, 'subscriber', { type: 'offer', sdp: local.sdp });
      } catch (err) {
        m.negotiating = false;
        this.options.logger.warn({ err: (err as Error).message, identity: m.identity }, 'sfu: subscriber offer failed');
      }
    })();
  }
}

/** All SFU rooms of the process; the signaling adapter's {@link SfuHook}. */
export class SfuManager {
  private readonly rooms = new Map<string, SfuRoom>();

  constructor(private readonly options: SfuOptions) {}

  join(room: string, identity: string, sid: string): void {
    let r = this.rooms.get(room);
    if (!r) this.rooms.set(room, (r = new SfuRoom(room, this.options)));
    r.join(identity, sid);
  }

  trackSettings(room: string, identity: string, publisher: string, streamId: string, width: number, height: number): void {
    this.rooms.get(room)?.trackSettings(identity, publisher, streamId, width, height);
  }

  leave(room: string, identity: string): void {
    const r = this.rooms.get(room);
    if (!r) return;
    r.leave(identity);
    if (r.size === 0) this.rooms.delete(room);
  }

  message(room: string, identity: string, message: { type: 'sfu-sdp' | 'sfu-candidate'; pc: SfuPc; description?: SessionDescription; candidate?: IceCandidate }): void {
    const r = this.rooms.get(room);
    if (!r) return;
    const body = message.type === 'sfu-sdp' ? { description: message.description! } : { candidate: message.candidate ?? null };
    r.handle(identity, message.pc, body).catch((err: unknown) => this.options.logger.warn({ err: (err as Error).message, room, identity, pc: message.pc }, 'sfu: bad description or candidate'));
  }

  /** Totals over all rooms (leak checks, metrics). */
  stats(): { rooms: number; peerConnections: number; publications: number; downTracks: number } {
    const total = { rooms: this.rooms.size, peerConnections: 0, publications: 0, downTracks: 0 };
    for (const r of this.rooms.values()) {
      const s = r.stats();
      total.peerConnections += s.peerConnections;
      total.publications += s.publications;
      total.downTracks += s.downTracks;
    }
    return total;
  }

  /** Closes every room; resolves when werift has closed every peer connection. */
  async close(): Promise<void> {
    const rooms = [...this.rooms.values()];
    this.rooms.clear();
    for (const r of rooms) r.close();
    await Promise.all(rooms.flatMap((r) => r.closing));
  }
}

