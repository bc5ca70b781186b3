/**
 * A publication source fed by RTP datagrams on a loopback UDP socket (one socket per
 * publication): a media worker's output (the MCU composite), a camera or a WHIP bridge sends
 * plain RTP (RFC 3550, no SRTP) there, e.g.
 * `gst-launch-1.0 videotestsrc ! vp8enc ! rtpvp8pay ! udpsink host=127.0.0.1 port=<port>`.
 * Packets are parsed with the package's one RTP parser (../rtp/rtp-header.ts); keyframe requests
 * go back as RTCP PLIs (RFC 4585 §6.3.1) to where the RTP comes from (RTCP multiplexing,
 * RFC 5761) or to a configured address.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { readRtpHeader } from '../rtp/rtp-header.js';
import { readAudioLevel } from '../rtp/audio-level.js';
import { encodePli, isRtcp } from '../rtp/rtcp-feedback.js';
import type { RtpMeta } from '../core/sfu-core-types.js';
import type { PublicationSource } from '../werift/ports.js';

/** A UDP address (IPv4 or IPv6 literal) and port. */
export interface UdpAddress {
  address: string;
  port: number;
}

/** Options of {@link LocalRtpSource.open}. */
export interface LocalRtpSourceOptions {
  /** Address to bind, a loopback literal. Default `127.0.0.1`. */
  bindAddress?: string;
  /** Port to bind; default 0 (an ephemeral port, see {@link LocalRtpSource.port}). */
  port?: number;
  /** Audio: the RFC 8285 id of the RFC 6464 audio level extension in the packets, if they carry it (active speakers). */
  audioLevelExtensionId?: number;
  /** Where keyframe requests (RTCP PLI) go. Default: the address and port the last RTP datagram came from. */
  keyframeRequestsTo?: UdpAddress;
  /**
   * Called with the lowest bandwidth estimate (REMB, bps) of the subscribers receiving the
   * publication and the bitrate it arrives at here (bps, over the last second), at each SFU tick
   * (250 ms) while an estimate is known, and once with null when none is left; an encoder behind
   * the socket sets its bitrate from it. Default: none (the SFU then reports nothing).
   */
  onSubscriberEstimate?: (bitrateBps: number | null, sendingBps: number) => void;
  /** SSRC the PLIs are sent from (a uint32). Default 1. */
  rtcpSenderSsrc?: number;
}

/** Datagrams dropped by a local RTP source, by reason. */
export interface LocalRtpSourceStats {
  packets: number;
  /** Not version-2 RTP of sane length (readRtpHeader refused it). */
  notRtp: number;
  /** RTCP (sender reports …): not forwarded. */
  rtcp: number;
}

/** One publication's RTP socket. */
export class LocalRtpSource implements PublicationSource {
  readonly stats: LocalRtpSourceStats = { packets: 0, notRtp: 0, rtcp: 0 };
  private lastSender: UdpAddress | undefined;
  private readonly meta: RtpMeta = { ssrc: 0, sequenceNumber: 0, timestamp: 0, payload: new Uint8Array(0), size: 0, audioLevel: undefined };
  private onRtp: ((meta: RtpMeta, packet: Uint8Array) => void) | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly options: LocalRtpSourceOptions,
  ) {
    socket.on('message', (msg, rinfo) => this.datagram(msg, rinfo));
  }

  /**
   * Binds the socket.
   * @throws RangeError for a bind address that is not a loopback literal, or a bad port; the
   *   socket's error (EADDRINUSE …) when it cannot bind
   */
  static async open(options: LocalRtpSourceOptions = {}): Promise<LocalRtpSource> {
    const address = options.bindAddress ?? '127.0.0.1';
    checkLoopback(address, 'bindAddress');
    if (options.keyframeRequestsTo) checkLoopback(options.keyframeRequestsTo.address, 'keyframeRequestsTo.address');
    const socket = createSocket(isIP(address) === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(options.port ?? 0, address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', () => undefined); // ICMP port unreachable on a PLI to a gone sender, and the like
    return new LocalRtpSource(socket, options);
  }

  /** The bound address and port (give these to the RTP sender). */
  get address(): UdpAddress {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  /** Starts delivering packets (synchronously, one call per datagram; `meta` is reused). */
  start(onRtp: (meta: RtpMeta, packet: Uint8Array) => void): void {
    this.onRtp = onRtp;
  }

  private datagram(msg: Buffer, rinfo: RemoteInfo): void {
    if (isRtcp(msg)) {
      this.stats.rtcp++;
      return;
    }
    const h = readRtpHeader(msg);
    if (!h) {
      this.stats.notRtp++;
      return;
    }
    this.stats.packets++;
    this.lastSender = { address: rinfo.address, port: rinfo.port };
    const m = this.meta;
    m.ssrc = h.ssrc;
    m.sequenceNumber = h.sequenceNumber;
    m.timestamp = h.timestamp;
    m.payload = msg.subarray(h.payloadOffset, h.payloadOffset + h.payloadLength);
    m.size = 12 + h.payloadLength;
    m.audioLevel = this.options.audioLevelExtensionId === undefined ? undefined : readAudioLevel(msg, this.options.audioLevelExtensionId);
    this.onRtp?.(m, msg);
  }

  requestKeyframe(ssrc: number): void {
    const to = this.options.keyframeRequestsTo ?? this.lastSender;
    if (!to) return;
    this.socket.send(encodePli(this.options.rtcpSenderSsrc ?? 1, ssrc), to.port, to.address);
  }

  subscriberEstimate(bitrateBps: number | null, sendingBps: number): void {
    this.options.onSubscriberEstimate?.(bitrateBps, sendingBps);
  }

  close(): void {
    this.onRtp = undefined;
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}

/** @throws RangeError unless `address` is a loopback IP literal (127.0.0.0/8 or ::1): local RTP never leaves the machine */
export function checkLoopback(address: string, key: string): void {
  const loopback = (isIP(address) === 4 && address.startsWith('127.')) || address === '::1';
  if (!loopback) throw new RangeError(`${key}: local RTP uses loopback addresses only (127.0.0.0/8, ::1), not ${JSON.stringify(address)}`);
}
