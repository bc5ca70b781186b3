/**
 * A subscriber output that sends a subscription's forwarded RTP to a loopback UDP address (a
 * mixer input, a recorder): plain RTP (RFC 3550), rewritten by the core's down track onto one SSRC
 * with continuous sequence numbers and timestamps, without the publisher's header extensions.
 * RTCP keyframe requests (PLI, RFC 4585 §6.3.1; FIR, RFC 5104 §4.3.1) arriving on its socket,
 * or {@link LocalRtpSink.requestKeyframe}, pass upstream to the publication's source.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';
import type { RtpPacket } from 'werift';
import { rewriteRtp } from '../rtp/rtp-header.js';
import { isRtcp, keyframeRequests } from '../rtp/rtcp-feedback.js';
import { checkLoopback, type UdpAddress } from './local-rtp-source.js';
import type { SubscriberOutput } from '../werift/ports.js';

/** One subscription's RTP socket toward a local consumer. */
export class LocalRtpSink implements SubscriberOutput {
  /** SSRC of what it sends (the core's choice for this subscription), once bound. */
  outSsrc: number | undefined;
  readonly stats = { sent: 0, keyframeRequests: 0 };
  private onKeyframeRequest: (() => void) | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly target: UdpAddress,
  ) {
    socket.on('message', (msg) => {
      if (!isRtcp(msg)) return;
      const ssrcs = keyframeRequests(msg);
      if (ssrcs && ssrcs.length > 0 && (this.outSsrc === undefined || ssrcs.includes(this.outSsrc) || ssrcs.includes(0))) this.requestKeyframe();
    });
  }

  /**
   * Binds a socket (ephemeral port on `bindAddress`) that sends to `target`.
   * @throws RangeError when an address is not a loopback literal or the port is out of range;
   *   the socket's error when it cannot bind
   */
  static async open(target: UdpAddress, bindAddress = '127.0.0.1'): Promise<LocalRtpSink> {
    checkLoopback(bindAddress, 'bindAddress');
    checkLoopback(target.address, 'target.address');
    if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) throw new RangeError(`target.port: 1–65535, not ${target.port}`);
    const socket = createSocket(isIP(bindAddress) === 6 ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, bindAddress, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    socket.on('error', () => undefined); // ICMP port unreachable while the consumer is not listening yet
    return new LocalRtpSink(socket, target);
  }

  /** Attaches the sink to its subscription: its SSRC, and where keyframe requests go. */
  bind(outSsrc: number, onKeyframeRequest: () => void): void {
    this.outSsrc = outSsrc;
    this.onKeyframeRequest = onKeyframeRequest;
  }

  /** The port it sends from (and takes RTCP on). */
  get localPort(): number {
    return this.socket.address().port;
  }

  /** Asks the publication's source for a keyframe (rate-limited upstream like any subscriber's PLI). */
  requestKeyframe(): void {
    this.stats.keyframeRequests++;
    this.onKeyframeRequest?.();
  }

  forwardBytes(bytes: Uint8Array, sequenceNumber: number, timestamp: number): void {
    if (this.outSsrc === undefined) return;
    this.stats.sent++;
    this.socket.send(rewriteRtp(bytes, this.outSsrc, sequenceNumber, timestamp), this.target.port, this.target.address);
  }

  forwardWerift(rtp: RtpPacket, sequenceNumber: number, timestamp: number): void {
    this.forwardBytes(rtp.serialize(), sequenceNumber, timestamp);
  }

  close(): void {
    this.onKeyframeRequest = undefined;
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}
