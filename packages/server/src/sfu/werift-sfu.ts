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
  RtcpTransportLayerFeedback,
  PictureLossIndication,
  GenericNack,
  useAbsSendTime,
  useAudioLevelIndication,
  ReceiverEstimatedMaxBitrate,
  useSdesMid,
  useSdesRTPStreamId,
  RtpHeader,
  RtpPacket,
  type RTCRtpTransceiver,
  type RtcpPacket,
} from 'werift';
import type { IceCandidate, ServerMessage, SessionDescription, SfuPc } from '@dari/protocol';
import { DownTrack, KeyframeRequestLimiter } from './forwarder.js';
import { LayerMonitor, chooseLayer } from './layer-selection.js';
import { ActiveSpeakerDetector, AUDIO_LEVEL_URI, decodeAudioLevel } from './active-speaker.js';
import { isVp8Keyframe, vp8KeyframeSize } from './rtp.js';

/** RTP fixed header size (RFC 3550 §5.1), counted with the payload in byte metrics. */
const RTP_FIXED_HEADER_BYTES = 12;
import { closeConnection, disableWeriftDefaultStun, nackPerSsrc, patchWeriftSrtp, trackTransports } from './werift-patch.js';
import { sendingMids } from './sdp-policy.js';
import { RembEstimate, RembGenerator } from './bwe-feedback.js';
import type { Logger } from '../logger.js';
import type { SfuCounters, SfuMetricsSample } from '../metrics.js';
patchWeriftSrtp(); // issue #4: byte-identical, leaner SRTP and a guard against werift's quadratic RTP header parse (werift-patch.ts)

export interface SfuOptions {
  /** Extra host addresses werift announces (e.g. 127.0.0.1 for loopback tests, a public IP). */
  announcedAddresses: string[];
  /** UDP port range for the SFU's ICE, inclusive; default any. */
  portRange?: [number, number] | undefined;
  logger: Logger;
  /** Sends a signaling message to a participant (by room, identity and sid). */
  send(room: string, identity: string, sid: string, message: ServerMessage): void;
  /** How often layer selection, dynacast and active-speaker updates run, ms; default 250. */
  selectionIntervalMs?: number;
}

/** A subscriber's forwarding track for one publication. */
interface Down {
  down: DownTrack;
  local: MediaStreamTrack;
  transceiver: RTCRtpTransceiver;
  /** Adaptive stream: render size in device pixels, from the subscriber's SDK. */
  renderSize?: { width: number; height: number };
  /** Stops listening to the sender's RTCP. */
  unsubscribe: () => void;
}

/** One published track: one werift track per simulcast layer (one layer without simulcast). */
interface Publication {
  publisher: Member;
  kind: 'audio' | 'video';
  streamId: string;
  /** Layers from lowest to highest; rid `''` without simulcast; `ssrc` seen on the layer's packets (werift leaves rid tracks' ssrc unset). */
  layers: { rid: string; track: MediaStreamTrack; ssrc?: number }[];
  transceiver: RTCRtpTransceiver;
  monitor: LayerMonitor;
  /** PLIs to the publisher: at most one per second per layer, however many subscribers ask. */
  limiter: KeyframeRequestLimiter;
  /** Subscribers' down tracks, by subscriber identity. */
  downs: Map<string, Down>;
  /** The rids last sent in `publisher-layers` (dynacast), comma-joined; null before the first. */
  activeRids: string | null;
  /** Unsubscribes from the layers' werift events. */
  unsubscribe: (() => void)[];
  /** Negotiated id of the RFC 6464 audio level header extension (audio), once known. */
  audioLevelId?: number | undefined;
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
  /** REMB toward the publisher leg (werift sends none): lets the client's send-side BWE ramp up to every simulcast layer. */
  remb?: RembGenerator;
  /** The subscriber leg's bandwidth estimate, from the client's REMBs (werift hands them to one sender only). */
  estimate: RembEstimate;
}

const VIDEO = new RTCRtpCodecParameters({
  mimeType: 'video/VP8',
  clockRate: 90000,
  rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }, { type: 'goog-remb' }],
});
/** FMT of a Full Intra Request (RFC 5104 §4.3.1; werift does not export its class). */
const FIR_FMT = 4;
const AUDIO = new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 });

/**
 * The bitrate announced to each publisher in REMB, bps: all three simulcast layers (150 + 500 +
 * 1500 kbps), audio and headroom. libwebrtc takes it as its estimate during its first 2 s and as
 * a ceiling after; its loss-based control still backs off on a congested link.
 */
export const PUBLISHER_REMB_BPS = 2_500_000;

/** Order of the usual simulcast rids, lowest first (LiveKit's and our SDK's q/h/f). */
const RID_RANK: Record<string, number> = { q: 0, h: 1, f: 2 };
/** Expected bitrate of a layer by rank, bps, for paused layers (the SDK's maxBitrate). */
const NOMINAL_BPS = [150_000, 500_000, 1_500_000];

/** One room's SFU. */
export class SfuRoom {
  private readonly members = new Map<string, Member>();
  private nextSsrc = 0x10000000;
  private timer: NodeJS.Timeout | null = null;
  /** Adaptive stream: render sizes by subscriber identity and publication stream id, device pixels. */
  private readonly renderSizes = new Map<string, Map<string, { width: number; height: number }>>();
  /** Dominant speakers from the publishers' RFC 6464 audio levels. */
  private readonly speakers = new ActiveSpeakerDetector();

  constructor(
    readonly name: string,
    private readonly options: SfuOptions,
    private readonly counters: SfuCounters,
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

  /** Video down tracks by the rid they forward now (`-` without simulcast, `none` when paused or waiting). */
  layers(into: Record<string, number>): void {
    for (const m of this.members.values()) {
      for (const p of m.publications) {
        if (p.kind !== 'video') continue;
        for (const d of p.downs.values()) {
          const i = d.down.currentSource;
          const rid = i === null ? 'none' : p.layers[i]?.rid || '-';
          into[rid] = (into[rid] ?? 0) + 1;
        }
      }
    }
  }

  /** A participant joined the room: create its two peer connections and offer what exists. */
  join(identity: string, sid: string): void {
    const existing = this.members.get(identity);
    if (existing?.sid === sid) return; // still a member from before (auto room flipping back)
    if (existing) this.leave(identity);
    const base = {
      iceServers: [],
      iceAdditionalHostAddresses: this.options.announcedAddresses,
      ...(this.options.portRange ? { icePortRange: this.options.portRange } : {}),
      codecs: { video: [VIDEO], audio: [AUDIO] },
    };
    // Publisher leg: simulcast layers are told apart by rid (RFC 8852), bundled streams by mid
    // (RFC 8843); audio carries its level (RFC 6464) for active-speaker detection. No
    // transport-cc: werift's TWCC feedback is malformed and collapses the client's estimate; the
    // SFU sends REMB instead (bwe-feedback.ts).
    const publisherConfig = { ...base, headerExtensions: { video: [useSdesMid(), useSdesRTPStreamId()], audio: [useSdesMid(), useAudioLevelIndication()] } };
    // Subscriber leg: abs-send-time lets the client's receive-side estimator work, so it sends REMB.
    const subscriberConfig = { ...base, headerExtensions: { video: [useSdesMid(), useAbsSendTime()], audio: [useSdesMid()] } };
    const member: Member = {
      identity,
      sid,
      described: { publisher: false, subscriber: false },
      heldCandidates: { publisher: [], subscriber: [] },
      publisher: new RTCPeerConnection(publisherConfig),
      subscriber: new RTCPeerConnection(subscriberConfig),
      publications: [],
      negotiating: false,
      renegotiate: false,
      estimate: new RembEstimate(),
    };
    trackTransports(member.publisher);
    trackTransports(member.subscriber, (t) => t.onRtcp.subscribe((rtcp) => this.onSubscriberRtcp(member, rtcp)));
    this.members.set(identity, member);
    for (const [pc, name] of [[member.publisher, 'publisher'], [member.subscriber, 'subscriber']] as const) {
      pc.onIceCandidate.subscribe((c) => {
        const candidate: IceCandidate = c ? (c.toJSON() as IceCandidate) : null;
        if (member.described[name]) this.options.send(this.name, identity, sid, { type: 'sfu-candidate', pc: name, candidate });
        else member.heldCandidates[name].push(candidate);
      });
    }
    // Video goes to a subscriber once its DTLS transport is up (a keyframe sent before would be
    // lost); select at once when the leg connects, and the timer catches any later transport.
    member.subscriber.connectionStateChange.subscribe((state) => {
      if (state === 'connected' && this.members.get(identity) === member) this.selectLayers(Date.now());
    });
    member.publisher.ontrack = (ev) => this.onPublishedTrack(member, ev.transceiver, ev.streams[0]?.id);
    for (const other of this.members.values()) {
      if (other === member) continue;
      for (const pub of other.publications) this.subscribe(member, pub);
    }
    this.negotiate(member);
    const speakers = this.speakers.speakers;
    if (speakers.length > 0) this.options.send(this.name, identity, sid, { type: 'active-speakers', speakers: [...speakers] });
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(Date.now()), this.options.selectionIntervalMs ?? 250);
      this.timer.unref();
    }
  }

  /** Timer: layer selection and dynacast, and active-speaker changes to every member. */
  private tick(now: number): void {
    this.selectLayers(now);
    const list = this.speakers.tick(now);
    if (!list) return;
    for (const m of this.members.values()) this.options.send(this.name, m.identity, m.sid, { type: 'active-speakers', speakers: [...list] });
  }

  /** Stops forwarding a publication: its subscribers' transceivers are removed (they renegotiate). */
  private unpublish(pub: Publication): void {
    const owner = pub.publisher;
    owner.publications = owner.publications.filter((p) => p !== pub);
    for (const off of pub.unsubscribe.splice(0)) off();
    for (const [subscriberId, d] of pub.downs) {
      d.unsubscribe();
      const sub = this.members.get(subscriberId);
      if (!sub) continue;
      // removeTrack alone: werift's returns early (leaving the m-line sendonly) once the
      // sender's track is cleared, e.g. by replaceTrack(null).
      sub.subscriber.removeTrack(d.transceiver.sender);
      this.negotiate(sub);
    }
    pub.downs.clear();
  }

  /** A participant left: close its connections and stop forwarding its tracks. */
  leave(identity: string): void {
    const m = this.members.get(identity);
    if (!m) return;
    this.members.delete(identity);
    this.speakers.remove(identity);
    this.renderSizes.delete(identity);
    for (const pub of [...m.publications]) this.unpublish(pub);
    for (const other of this.members.values()) {
      for (const pub of other.publications) pub.downs.delete(identity);
    }
    if (this.members.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
    for (const c of [closeConnection(m.publisher), closeConnection(m.subscriber)]) {
      this.closing.add(c);
      void c.finally(() => this.closing.delete(c));
    }
  }

  /** Peer connections being closed (werift closes asynchronously). */
  readonly closing = new Set<Promise<unknown>>();

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
      // Tracks the client stopped sending (unpublished) stop being forwarded.
      const sending = sendingMids(d.sdp);
      for (const pub of [...m.publications]) if (pub.transceiver.mid === null || !sending.has(pub.transceiver.mid)) this.unpublish(pub);
      await m.publisher.setLocalDescription(await m.publisher.createAnswer());
      const local = m.publisher.localDescription!;
      this.sendDescription(m, 'publisher', { type: 'answer', sdp: local.sdp });
    } else if (pc === 'subscriber' && d.type === 'answer') {
      await m.subscriber.setRemoteDescription(d);
      m.negotiating = false;
      if (m.renegotiate) this.negotiate(m);
    }
  }

  /** Adaptive stream: the subscriber's render size (device pixels) for one publication. */
  trackSettings(identity: string, publisher: string, streamId: string, width: number, height: number): void {
    // Kept for tracks not forwarded yet too (a room moving to the SFU hears sizes first).
    let sizes = this.renderSizes.get(identity);
    if (!sizes) this.renderSizes.set(identity, (sizes = new Map()));
    sizes.set(streamId, { width, height });
    const pub = this.members.get(publisher)?.publications.find((p) => p.streamId === streamId && p.kind === 'video');
    const d = pub?.downs.get(identity);
    if (!pub || !d) return;
    d.renderSize = { width, height };
    this.selectLayersOf(pub, Date.now());
  }

  /**
   * A track the publisher offered. `streamId`: its a=msid stream id (RFC 8830), kept on
   * forwarded tracks. With simulcast werift gives one track per rid on the transceiver's receiver.
   */
  private onPublishedTrack(publisher: Member, transceiver: RTCRtpTransceiver, streamId: string | undefined): void {
    const kind = transceiver.kind === 'audio' ? 'audio' : 'video';
    const ridTracks = transceiver.receiver.tracks.filter((t) => t.rid);
    const rank = (rid: string, i: number) => RID_RANK[rid] ?? i;
    const layers =
      ridTracks.length > 0
        ? ridTracks.map((track, i) => ({ rid: track.rid!, track, order: rank(track.rid!, i) })).sort((a, b) => a.order - b.order)
        : [{ rid: '', track: transceiver.receiver.track, order: 0 }];
    const pub: Publication = {
      publisher,
      kind,
      streamId: streamId ?? publisher.identity,
      layers: layers.map(({ rid, track }) => ({ rid, track })),
      transceiver,
      monitor: new LayerMonitor(
        layers.map((l) => l.rid),
        // Expected rates by rid rank (h/f of a 270p–539p capture are h and f, not q and h).
        layers.map((l) => NOMINAL_BPS[layers.length === 1 ? 1 : Math.min(l.order, 2)]!),
      ),
      limiter: new KeyframeRequestLimiter(1000),
      downs: new Map(),
      activeRids: null,
      unsubscribe: [],
    };
    publisher.publications.push(pub);
    if (layers.length > 1 && !nackPerSsrc(transceiver.receiver)) this.options.logger.warn('werift internals changed: simulcast NACKs are not split per layer');
    pub.unsubscribe.push(transceiver.receiver.onPacketLost.subscribe(() => this.counters.nackSent++).unSubscribe);
    pub.layers.forEach((layer, i) => pub.unsubscribe.push(layer.track.onReceiveRtp.subscribe((rtp) => this.forward(pub, i, rtp)).unSubscribe));
    for (const other of this.members.values()) {
      if (other === publisher) continue;
      this.subscribe(other, pub);
      this.negotiate(other);
    }
  }

  /** One RTP packet of layer `layer` of `pub`: to every subscriber that forwards that layer. */
  private forward(pub: Publication, layer: number, rtp: RtpPacket): void {
    const now = Date.now();
    const l = pub.layers[layer]!;
    if (l.ssrc !== rtp.header.ssrc) l.ssrc = rtp.header.ssrc;
    this.sendRemb(pub, rtp.header.ssrc, now);
    const h = rtp.header;
    const size = RTP_FIXED_HEADER_BYTES + rtp.payload.length;
    let keyframe: boolean | undefined;
    const isKeyframe = () => (keyframe ??= isVp8Keyframe(rtp.payload));
    if (pub.kind === 'video') pub.monitor.packet(layer, size, now, vp8KeyframeSize(rtp.payload));
    else this.audioLevel(pub, rtp, now);
    for (const d of pub.downs.values()) {
      const r = d.down.route(layer, h.sequenceNumber, h.timestamp, isKeyframe, now);
      if (r.out) {
        // The parsed packet goes straight to the subscriber's sender (no serialize/parse round
        // trip): the payload is shared; the header is a copy with our sequence number and
        // timestamp and without the publisher's extensions (their ids are the publisher leg's;
        // werift adds the subscriber leg's own and sets the SSRC).
        const header = new RtpHeader({ ...h, sequenceNumber: r.out.sequenceNumber, timestamp: r.out.timestamp, extension: false, extensions: [] });
        void d.transceiver.sender.sendRtp(new RtpPacket(header, rtp.payload)).catch(() => undefined);
        this.counters.forwardedPackets++;
        this.counters.forwardedBytes += size;
      }
      if (r.requestKeyframe !== undefined) this.requestKeyframe(pub, r.requestKeyframe, now);
    }
  }

  /** REMB to the publisher, when due (RembGenerator paces it). */
  private sendRemb(pub: Publication, ssrc: number, now: number): void {
    const p = pub.publisher;
    p.remb ??= new RembGenerator({ senderSsrc: pub.transceiver.receiver.rtcpSsrc, maxBitrateBps: PUBLISHER_REMB_BPS });
    p.remb.onRtp(ssrc, now);
    const bytes = p.remb.poll(now);
    if (!bytes) return;
    const packet = { serialize: () => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
    void pub.transceiver.receiver.dtlsTransport.sendRtcp([packet as never]).catch(() => undefined);
  }

  /** Feeds an audio packet's RFC 6464 level to the active-speaker detector. */
  private audioLevel(pub: Publication, rtp: RtpPacket, now: number): void {
    pub.audioLevelId ??= pub.transceiver.headerExtensions.find((e) => e.uri === AUDIO_LEVEL_URI)?.id;
    if (pub.audioLevelId === undefined) return;
    const ext = rtp.header.extensions.find((e) => e.id === pub.audioLevelId);
    const level = ext && decodeAudioLevel(ext.payload);
    if (level) this.speakers.push(pub.publisher.identity, level.level, level.voice, now);
  }

  /** Sends a PLI (RFC 4585 §6.3.1) for one layer to the publisher, at most once a second per layer. */
  private requestKeyframe(pub: Publication, layer: number, now: number): void {
    const l = pub.layers[layer];
    const ssrc = l?.ssrc ?? l?.track.ssrc;
    if (ssrc === undefined || !pub.limiter.allow(layer, now)) return;
    this.counters.pliSent++;
    void pub.transceiver.receiver.sendRtcpPLI(ssrc).catch(() => undefined);
  }

  /** Adds a forwarding track for `pub` to `subscriber`'s subscriber connection. */
  private subscribe(subscriber: Member, pub: Publication): void {
    if (pub.downs.has(subscriber.identity)) return;
    const local = new MediaStreamTrack({ kind: pub.kind });
    const transceiver = subscriber.subscriber.addTransceiver(local, { direction: 'sendonly' });
    transceiver.sender.streamId = pub.streamId;
    const down = new DownTrack({ outSsrc: this.nextSsrc++, clockRate: pub.kind === 'video' ? 90000 : 48000, kind: pub.kind });
    const d: Down = { down, local, transceiver, unsubscribe: () => undefined };
    const size = this.renderSizes.get(subscriber.identity)?.get(pub.streamId);
    if (size) d.renderSize = size;
    pub.downs.set(subscriber.identity, d);
    if (pub.kind === 'audio') down.selectLayer(0, Date.now());
    else this.selectLayersOf(pub, Date.now());
    d.unsubscribe = transceiver.sender.onRtcp.subscribe((rtcp) => {
      if (rtcp instanceof RtcpPayloadSpecificFeedback && rtcp.feedback instanceof PictureLossIndication) {
        this.keyframeWanted(pub, down);
      } else if (rtcp instanceof RtcpTransportLayerFeedback && rtcp.feedback instanceof GenericNack) {
        this.counters.nackReceived++; // werift's sender retransmits from its cache
      } else if (rtcp instanceof RtcpPayloadSpecificFeedback && rtcp.feedback instanceof ReceiverEstimatedMaxBitrate) {
        subscriber.estimate.onRemb(Number(rtcp.feedback.bitrate), Date.now());
      }
    }).unSubscribe;
  }

  /**
   * A subscriber's bandwidth estimate for one of its video tracks, bps: its leg's REMB split
   * evenly over the video it receives (undefined when unknown).
   */
  private videoShare(identity: string, now: number, videos: ReadonlyMap<string, number>): number | undefined {
    const total = this.members.get(identity)?.estimate.estimate(now);
    if (total === undefined) return undefined;
    return total / Math.max(1, videos.get(identity) ?? 0);
  }

  /** How many video tracks each subscriber is forwarded now, by identity. */
  private videoCounts(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const m of this.members.values()) {
      for (const p of m.publications) {
        if (p.kind !== 'video') continue;
        for (const [identity, d] of p.downs) if (d.down.currentSource !== null) counts.set(identity, (counts.get(identity) ?? 0) + 1);
      }
    }
    return counts;
  }

  /**
   * A subscriber lost the picture (PLI) or wants a decoder refresh (FIR): ask the publisher for
   * a keyframe of the layer it gets (always with a PLI, rate-limited per layer).
   */
  private keyframeWanted(pub: Publication, down: DownTrack): void {
    this.counters.pliReceived++;
    const layer = down.targetSource ?? down.currentSource;
    if (layer !== null) this.requestKeyframe(pub, layer, Date.now());
  }

  /**
   * FIRs (RFC 5104 §4.3.1) on a subscriber leg's transport. werift routes payload-specific
   * feedback by the media SSRC field, which a FIR sets to 0, so none reaches a sender: the
   * SSRCs are in the FCI entries.
   */
  private onSubscriberRtcp(member: Member, rtcp: RtcpPacket): void {
    if (!(rtcp instanceof RtcpPayloadSpecificFeedback) || rtcp.feedback.count !== FIR_FMT) return;
    const entries = (rtcp.feedback as unknown as { fir?: { ssrc: number }[] }).fir ?? [];
    for (const { ssrc } of entries) {
      for (const m of this.members.values()) {
        for (const pub of m.publications) {
          const d = pub.downs.get(member.identity);
          if (d && d.transceiver.sender.ssrc === ssrc) this.keyframeWanted(pub, d.down);
        }
      }
    }
  }

  /** Layer selection and dynacast for every video publication (timer). */
  private selectLayers(now: number): void {
    const videos = this.videoCounts();
    for (const m of this.members.values()) for (const pub of m.publications) if (pub.kind === 'video') this.selectLayersOf(pub, now, videos);
  }

  /**
   * Picks each subscriber's layer from its render size and REMB estimate ({@link chooseLayer}),
   * and tells the publisher which simulcast layers someone needs (`publisher-layers`).
   */
  private selectLayersOf(pub: Publication, now: number, videos: ReadonlyMap<string, number> = this.videoCounts()): void {
    const layers = pub.monitor.layers(now);
    const wanted = new Set<number>();
    for (const [identity, d] of pub.downs) {
      if (d.transceiver.sender.dtlsTransport?.state !== 'connected') continue;
      const estimateBps = this.videoShare(identity, now, videos);
      const choice = chooseLayer(layers, { render: d.renderSize, estimateBps }, d.down.currentSource);
      // Dynacast keeps what is forwarded too, until the desired layer arrives.
      if (choice.desired !== null) wanted.add(choice.desired);
      if (choice.forward !== null) wanted.add(choice.forward);
      if (choice.forward === null) {
        d.down.pause();
        continue;
      }
      if (choice.forward === d.down.currentSource && d.down.targetSource === null) continue;
      const pli = d.down.selectLayer(choice.forward, now);
      if (pli !== undefined) this.requestKeyframe(pub, pli, now);
    }
    if (pub.layers.length < 2) return;
    const rids = pub.layers.filter((_, i) => wanted.has(i)).map((l) => l.rid);
    const key = rids.join(',');
    if (key === pub.activeRids) return;
    pub.activeRids = key;
    const p = pub.publisher;
    this.options.send(this.name, p.identity, p.sid, { type: 'publisher-layers', streamId: pub.streamId, rids });
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
  private readonly counters: SfuCounters = { forwardedPackets: 0, forwardedBytes: 0, pliReceived: 0, pliSent: 0, nackReceived: 0, nackSent: 0 };

  constructor(private readonly options: SfuOptions) {
    // werift would otherwise ask stun.l.google.com for srflx candidates on every gather.
    if (!disableWeriftDefaultStun()) options.logger.warn('werift internals changed: could not disable its default STUN server');
  }

  join(room: string, identity: string, sid: string): void {
    let r = this.rooms.get(room);
    if (!r) this.rooms.set(room, (r = new SfuRoom(room, this.options, this.counters)));
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

  /** Everything metrics.ts exposes, sampled at scrape time. */
  metrics(): SfuMetricsSample {
    let participants = 0;
    const layers: Record<string, number> = {};
    for (const r of this.rooms.values()) {
      participants += r.size;
      r.layers(layers);
    }
    return { ...this.stats(), participants, ...this.counters, layers };
  }

  /** Closes every room; resolves when werift has closed every peer connection. */
  async close(): Promise<void> {
    const rooms = [...this.rooms.values()];
    this.rooms.clear();
    for (const r of rooms) r.close();
    await Promise.all(rooms.flatMap((r) => [...r.closing]));
  }
}

