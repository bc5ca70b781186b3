/**
 * WHEP viewers: one participant's audio and video played to a player that offers (the WHEP
 * client sends a recvonly offer, the SFU answers). The viewer is a server-side participant of
 * kind `egress` in the core, so the room's policy gives it nothing by itself; it subscribes
 * explicitly to the target's publications, one subscriber per media section, each forwarding
 * through the werift transceiver the offer's m-line made ({@link WhepOutput}). For a publication
 * present when it starts, its peer connection answers exactly that codec, so the player gets what
 * it can decode or the m-line is rejected. A media section of a kind the target does not publish
 * yet is answered sendonly with every codec the SFU forwards for that kind that the player
 * offered; a publication of that kind made later (a late track: a camera's audio once its pull
 * has seen it, a WHIP publisher's second track) is sent there without a renegotiation (which
 * WHEP does not have), under its codec's negotiated payload type (RFC 8829 §5.3.1: the answerer
 * may send any codec of the answer).
 */
import { GenericNack, PictureLossIndication, RTCPeerConnection, RtcpPayloadSpecificFeedback, RtcpTransportLayerFeedback, RtpHeader, RtpPacket, type RTCRtpTransceiver } from 'werift';
import { SfuApiError } from '../local-rtp/local-rtp-room.js';
import type { PublicationRef, SubscriptionRef } from '../core/sfu-core-types.js';
import { closeConnection, sendRtp } from './patches/index.js';
import { weriftCodec } from './peer-config.js';
import type { SubscriberOutput } from './ports.js';
import type { SfuRoom } from './sfu-room.js';
import { WHIP_GATHER_TIMEOUT_MS, gathered } from './whip-session.js';

/** A WHEP viewer's session in the SFU. */
export interface WhepViewer {
  /** The SDP answer, with the SFU's candidates. */
  answer: string;
  /** The viewer's peer connection (its state, for the HTTP side to end dead sessions). */
  pc: RTCPeerConnection;
  /** Ends the viewing: subscriptions end, the connection closes. Idempotent. */
  close(): void;
}

/**
 * Starts a WHEP viewer `viewerId` of participant `target`'s publications.
 * @param offer the player's SDP offer (recvonly audio and/or video)
 * @throws SfuApiError `unknown-participant` (the target publishes nothing in this room),
 *   `participant-exists` (viewerId taken), `bad-option` (an offer werift refused, or one with
 *   no media section the target's tracks fit)
 */
export async function whepSubscribe(room: SfuRoom, viewerId: string, target: string, offer: string): Promise<WhepViewer> {
  const pubs = room.core.publications().filter((p) => p.participant === target && !p.closed);
  if (pubs.length === 0) throw new SfuApiError('unknown-participant', `${JSON.stringify(target)} publishes nothing in room ${room.name}`);
  if (room.core.participantKind(viewerId) !== undefined) throw new SfuApiError('participant-exists', `${JSON.stringify(viewerId)} is already in room ${room.name}`);
  const video = pubs.find((p) => p.kind === 'video');
  const audio = pubs.find((p) => p.kind === 'audio');
  const base = room.subscriberLegConfig;
  const pc = new RTCPeerConnection({
    ...base,
    codecs: { video: video ? [weriftCodec(video.codec)] : (base.codecs?.video ?? []), audio: audio ? [weriftCodec(audio.codec)] : (base.codecs?.audio ?? []) },
  });
  const close = () => void closeConnection(pc);
  let pairs: { transceiver: RTCRtpTransceiver; pub: PublicationRef }[];
  const free: RTCRtpTransceiver[] = [];
  try {
    await pc.setRemoteDescription({ type: 'offer', sdp: offer });
    const unused = [...pubs];
    pairs = [];
    for (const t of pc.getTransceivers()) {
      const i = unused.findIndex((p) => p.kind === t.kind);
      if (i < 0) {
        // Kept for a late track of this kind, if the target publishes none yet.
        if ((t.kind === 'audio' && !audio) || (t.kind === 'video' && !video)) {
          t.setDirection('sendonly');
          free.push(t);
        }
        continue;
      }
      t.setDirection('sendonly');
      pairs.push({ transceiver: t, pub: unused.splice(i, 1)[0]! });
    }
    if (pairs.length === 0) throw new Error(`no media section for ${[...new Set(pubs.map((p) => p.kind))].join(' or ')}`);
    await pc.setLocalDescription(await pc.createAnswer());
  } catch (err) {
    close();
    throw new SfuApiError('bad-option', `the offer was refused: ${(err as Error).message}`);
  }
  await gathered(pc, WHIP_GATHER_TIMEOUT_MS);
  const now = Date.now();
  room.apply(room.core.join(viewerId, 'egress', now));
  room.startTimer();
  const subscriptions: SubscriptionRef[] = [];
  const connected = () => pc.connectionState === 'connected';
  const subscribe = (transceiver: RTCRtpTransceiver, pub: PublicationRef, at: number) => {
    const id = room.newId(viewerId);
    const output = new WhepOutput(transceiver, (fb) => room.feedback(fb));
    room.expectOutput(id, output, (s) => {
      output.subscription = s;
      subscriptions.push(s);
    });
    room.apply(room.core.addSubscriber({ id, participant: viewerId }, at));
    room.apply(room.core.subscribe(id, pub.id, at));
    const s = output.subscription;
    if (s && connected() && !s.closed) room.apply(room.core.subscriptionReady(s, true, at)); // a late track: DTLS is up already
  };
  for (const { transceiver, pub } of pairs) subscribe(transceiver, pub, now);
  const stopListening = room.onPublication((pub) => {
    if (pub.participant !== target || room.isClosed) return;
    const i = free.findIndex((t) => t.kind === pub.kind);
    const want = weriftCodec(pub.codec);
    const codec = i < 0 ? undefined : free[i]!.codecs.find((c) => c.mimeType.toLowerCase() === want.mimeType.toLowerCase() && c.clockRate === want.clockRate && (c.parameters ?? '') === (want.parameters ?? ''));
    if (!codec) return; // no media section left for it, or the player did not offer its codec
    const transceiver = free.splice(i, 1)[0]!;
    transceiver.sender.codec = codec;
    subscribe(transceiver, pub, Date.now());
  });
  // Video starts with a keyframe once DTLS is up (one sent before would be lost).
  pc.connectionStateChange.subscribe((state) => {
    if (state !== 'connected' || room.isClosed) return;
    for (const s of subscriptions) if (!s.closed) room.apply(room.core.subscriptionReady(s, true, Date.now()));
  });
  let closed = false;
  return {
    answer: pc.localDescription!.sdp,
    pc,
    close: () => {
      if (closed) return;
      closed = true;
      stopListening();
      if (!room.isClosed) room.leave(viewerId);
      close();
    },
  };
}

/** A WHEP viewer's forwarding track: the sender of a transceiver its offer made. */
export class WhepOutput implements SubscriberOutput {
  subscription: SubscriptionRef | undefined;
  private readonly unsubscribeRtcp: () => void;

  constructor(
    readonly transceiver: RTCRtpTransceiver,
    feedback: (fb: { type: 'pli' | 'nack'; subscription: SubscriptionRef }) => void,
  ) {
    this.unsubscribeRtcp = transceiver.sender.onRtcp.subscribe((rtcp) => {
      const s = this.subscription;
      if (!s) return;
      if (rtcp instanceof RtcpPayloadSpecificFeedback && rtcp.feedback instanceof PictureLossIndication) feedback({ type: 'pli', subscription: s });
      else if (rtcp instanceof RtcpTransportLayerFeedback && rtcp.feedback instanceof GenericNack) feedback({ type: 'nack', subscription: s });
    }).unSubscribe;
  }

  forwardWerift(rtp: RtpPacket, sequenceNumber: number, timestamp: number): void {
    // As WeriftOutput: our sequence number and timestamp, none of the publisher leg's extensions.
    const header = new RtpHeader({ ...rtp.header, sequenceNumber, timestamp, extension: false, extensions: [] });
    sendRtp(this.transceiver.sender, new RtpPacket(header, rtp.payload));
  }

  forwardBytes(bytes: Uint8Array, sequenceNumber: number, timestamp: number): void {
    let rtp: RtpPacket;
    try {
      rtp = RtpPacket.deSerialize(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch {
      return;
    }
    this.forwardWerift(rtp, sequenceNumber, timestamp);
  }

  close(): void {
    this.unsubscribeRtcp();
  }
}
