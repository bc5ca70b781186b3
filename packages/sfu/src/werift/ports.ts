/**
 * The two kinds of endpoints the room adapter (sfu-room.ts) drives, whatever their transport:
 * publication sources (a browser's werift receiver, a local RTP socket) and subscriber outputs
 * (a werift sender on a browser's subscriber leg, a local RTP sink).
 */
import type { RtpPacket } from 'werift';

/** What a room adapter needs from a publication source. */
export interface PublicationSource {
  /** Sends a PLI (RFC 4585 §6.3.1) for `ssrc` to the publisher. */
  requestKeyframe(ssrc: number): void;
  /** Sends an RTCP packet (a REMB) to the publisher, when it takes any. */
  sendRtcp?(packet: Uint8Array): void;
  /** The lowest bandwidth estimate of its subscribers, bps (null: none known), and what it sends, bps; sources that adapt their bitrate only (PublicationSpec.adaptsBitrate). */
  subscriberEstimate?(bitrateBps: number | null, sendingBps: number): void;
  /** Stops feeding packets. */
  close(): void;
}

/** A subscription's output, as the room adapter drives it. */
export interface SubscriberOutput {
  /** Sends `rtp` (werift's parsed packet, not modified) with this sequence number and timestamp. */
  forwardWerift(rtp: RtpPacket, sequenceNumber: number, timestamp: number): void;
  /** Sends an RTP datagram's `bytes` (not modified) with this sequence number and timestamp. */
  forwardBytes(bytes: Uint8Array, sequenceNumber: number, timestamp: number): void;
  /** Whether video may be selected (the transport is up); undefined: always. */
  readonly connected?: boolean;
  /** Stops it (the subscription ended). */
  close(): void;
}

