/**
 * Subscriber outputs: where a subscription's forwarded packets go. {@link WeriftOutput} is a
 * sendonly transceiver on a browser's subscriber leg (werift encrypts, sets its own SSRC and the
 * leg's header extensions, and answers NACKs from its send cache); the local RTP sink
 * (../local-rtp) is the other kind. Both take packets from either kind of publication source:
 * werift's parsed `RtpPacket` (browser publishers) or datagram bytes (local RTP sources).
 */
import {
  GenericNack,
  MediaStreamTrack,
  PictureLossIndication,
  ReceiverEstimatedMaxBitrate,
  RtcpPayloadSpecificFeedback,
  RtcpTransportLayerFeedback,
  RtpHeader,
  RtpPacket,
  type RTCRtpTransceiver,
} from 'werift';
import type { SubscriberFeedback } from '../core/sfu-core.js';
import type { SubscriptionRef } from '../core/sfu-core-types.js';
import type { BrowserMember } from './browser-member.js';
import type { SubscriberOutput } from './ports.js';
import { weriftCodec } from './peer-config.js';
import { sendRtp } from './patches/index.js';

/** A forwarding track on a browser's subscriber leg (werift sender). */
export class WeriftOutput implements SubscriberOutput {
  readonly transceiver: RTCRtpTransceiver;
  /** Last readiness reported to the core. */
  reportedReady = false;
  private readonly unsubscribeRtcp: () => void;

  constructor(
    private readonly member: BrowserMember,
    readonly subscription: SubscriptionRef,
    feedback: (fb: SubscriberFeedback) => void,
  ) {
    const pub = subscription.publication;
    // The track's codec is the publication's: the transceiver offers exactly it (a subscriber
    // that cannot decode it rejects the m-line, see WeriftOutput.rejected).
    this.transceiver = member.subscriber.addTransceiver(new MediaStreamTrack({ kind: pub.kind, codec: weriftCodec(pub.codec) }), { direction: 'sendonly' });
    const sender = this.transceiver.sender;
    sender.streamId = pub.streamId;
    member.outputsBySsrc.set(sender.ssrc, this);
    this.unsubscribeRtcp = sender.onRtcp.subscribe((rtcp) => {
      if (rtcp instanceof RtcpPayloadSpecificFeedback && rtcp.feedback instanceof PictureLossIndication) {
        feedback({ type: 'pli', subscription });
      } else if (rtcp instanceof RtcpTransportLayerFeedback && rtcp.feedback instanceof GenericNack) {
        feedback({ type: 'nack', subscription }); // werift's sender retransmits from its cache
      } else if (rtcp instanceof RtcpPayloadSpecificFeedback && rtcp.feedback instanceof ReceiverEstimatedMaxBitrate) {
        // werift hands a leg's REMBs to one sender only: the estimate is the leg's (the subscriber's).
        feedback({ type: 'remb', subscriber: subscription.subscriber, bitrateBps: Number(rtcp.feedback.bitrate) });
      }
    }).unSubscribe;
  }

  /** Video goes out only once this sender's own DTLS transport is connected (werift's connection state can stay 'connecting' while a dropped bundle transport hangs). */
  get connected(): boolean {
    return this.transceiver.sender.dtlsTransport?.state === 'connected';
  }

  forwardWerift(rtp: RtpPacket, sequenceNumber: number, timestamp: number): void {
    // The parsed packet goes straight to the sender (no serialize/parse round trip): the payload
    // is shared; the header is a copy with our sequence number and timestamp and without the
    // publisher's extensions (their ids are the publisher leg's, and werift lets them override
    // its own: a publisher's mid would replace the subscriber leg's).
    const header = new RtpHeader({ ...rtp.header, sequenceNumber, timestamp, extension: false, extensions: [] });
    sendRtp(this.transceiver.sender, new RtpPacket(header, rtp.payload));
  }

  forwardBytes(bytes: Uint8Array, sequenceNumber: number, timestamp: number): void {
    let rtp: RtpPacket;
    try {
      rtp = RtpPacket.deSerialize(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    } catch {
      return; // the local source already parsed it with our parser; werift's disagreeing is no reason to throw
    }
    this.forwardWerift(rtp, sequenceNumber, timestamp);
  }

  close(): void {
    this.unsubscribeRtcp();
    const sender = this.transceiver.sender;
    if (this.member.outputsBySsrc.get(sender.ssrc) === this) this.member.outputsBySsrc.delete(sender.ssrc);
    // removeTrack alone: werift's returns early (leaving the m-line sendonly) once the sender's
    // track is cleared, e.g. by replaceTrack(null). A leaving member's legs just close.
    if (!this.member.closed) this.member.subscriber.removeTrack(sender);
  }
}
