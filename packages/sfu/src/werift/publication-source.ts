/**
 * Publication sources, as the room adapter drives them. {@link WeriftSource} is a browser's
 * published track: a werift receiver on its publisher leg, one werift track per simulcast layer
 * (RFC 8853 rid); the local RTP source (../local-rtp) is the other kind. A source feeds its
 * packets to the core and carries out what the core asks of the publisher (PLI, REMB).
 */
import type { RTCRtpTransceiver, RtpPacket } from 'werift';
import { orderSimulcastLayers } from '../core/model.js';
import { decodeAudioLevel, AUDIO_LEVEL_URI } from '../rtp/audio-level.js';
import type { AudioCodecHooks, VideoCodecHooks } from '../rtp/codec.js';
import { nackPerSsrc } from './patches/index.js';
import { codecHooks } from './peer-config.js';
import type { PublicationSpec, RtpMeta } from '../core/sfu-core-types.js';
import type { SfuLogger } from './types.js';
import type { PublicationSource } from './ports.js';

/** RTP fixed header size (RFC 3550 §5.1), counted with the payload in sizes and byte metrics. */
export const RTP_FIXED_HEADER_BYTES = 12;

/** Where a werift source's packets go: the room (core input with its clock and sink). */
export type WeriftRtpHandler = (layer: number, meta: RtpMeta, rtp: RtpPacket) => void;

/** A browser's published track (werift receiver). */
export class WeriftSource implements PublicationSource {
  readonly spec: PublicationSpec;
  private readonly layerTracks: RTCRtpTransceiver['receiver']['tracks'];
  private readonly unsubscribe: (() => void)[] = [];
  /** Reused for every packet (the core keeps nothing of it). */
  private readonly meta: RtpMeta = { ssrc: 0, sequenceNumber: 0, timestamp: 0, payload: new Uint8Array(0), size: 0, audioLevel: undefined };
  /** Negotiated id of the RFC 6464 audio level header extension (audio), once known. */
  private audioLevelId: number | undefined;

  /**
   * The codec a publisher sends on a negotiated transceiver: the first one of the answer (JSEP
   * RFC 9429 §5.3.1: the answerer's order, which is the SFU's: VP8 before H.264), when the SFU
   * forwards it.
   */
  static codecOf(transceiver: RTCRtpTransceiver): VideoCodecHooks | AudioCodecHooks | undefined {
    const kind = transceiver.kind === 'audio' ? 'audio' : 'video';
    const primary = transceiver.codecs.find((c) => !['rtx', 'red', 'ulpfec'].includes(c.name.toLowerCase()));
    return primary ? codecHooks(kind, primary) : undefined;
  }

  /**
   * @param streamId the track's a=msid stream id (RFC 8830), kept on forwarded tracks
   * @param codec the negotiated codec ({@link WeriftSource.codecOf})
   */
  constructor(
    id: string,
    participant: string,
    readonly transceiver: RTCRtpTransceiver,
    streamId: string,
    codec: VideoCodecHooks | AudioCodecHooks,
    logger: SfuLogger,
  ) {
    const kind = transceiver.kind === 'audio' ? 'audio' : 'video';
    const ridTracks = transceiver.receiver.tracks.filter((t) => t.rid);
    const layers = ridTracks.length > 0 ? orderSimulcastLayers(ridTracks.map((track) => ({ rid: track.rid!, track }))) : [{ rid: '', track: transceiver.receiver.track }];
    this.layerTracks = layers.map((l) => l.track);
    this.spec = {
      id,
      participant,
      kind,
      streamId,
      layers: layers.map((l) => ({ rid: l.rid, ssrc: l.track.ssrc })),
      codec,
      rembSenderSsrc: transceiver.receiver.rtcpSsrc,
    };
    if (layers.length > 1 && !nackPerSsrc(transceiver.receiver)) logger.warn('werift internals changed: simulcast NACKs are not split per layer');
  }

  /** Starts feeding packets to `onRtp`, and each NACK werift sends to `onNack`. */
  start(onRtp: WeriftRtpHandler, onNack: () => void): void {
    this.unsubscribe.push(this.transceiver.receiver.onPacketLost.subscribe(onNack).unSubscribe);
    const meta = this.meta;
    const audio = this.spec.kind === 'audio';
    this.layerTracks.forEach((track, layer) =>
      this.unsubscribe.push(
        track.onReceiveRtp.subscribe((rtp) => {
          const h = rtp.header;
          meta.ssrc = h.ssrc;
          meta.sequenceNumber = h.sequenceNumber;
          meta.timestamp = h.timestamp;
          meta.payload = rtp.payload;
          meta.size = RTP_FIXED_HEADER_BYTES + rtp.payload.length;
          meta.audioLevel = audio ? this.audioLevel(rtp) : undefined;
          onRtp(layer, meta, rtp);
        }).unSubscribe,
      ),
    );
  }

  /** The packet's RFC 6464 audio level, from werift's parsed header extensions. */
  private audioLevel(rtp: RtpPacket) {
    this.audioLevelId ??= this.transceiver.headerExtensions.find((e) => e.uri === AUDIO_LEVEL_URI)?.id;
    if (this.audioLevelId === undefined) return undefined;
    const ext = rtp.header.extensions.find((e) => e.id === this.audioLevelId);
    return ext && decodeAudioLevel(ext.payload);
  }

  /** The media section (a=mid) this track arrives in. */
  get mid(): string | null {
    return this.transceiver.mid ?? null;
  }

  requestKeyframe(ssrc: number): void {
    void this.transceiver.receiver.sendRtcpPLI(ssrc).catch(() => undefined);
  }

  sendRtcp(packet: Uint8Array): void {
    const rtcp = { serialize: () => Buffer.from(packet.buffer, packet.byteOffset, packet.byteLength) };
    void this.transceiver.receiver.dtlsTransport.sendRtcp([rtcp as never]).catch(() => undefined);
  }

  close(): void {
    for (const off of this.unsubscribe.splice(0)) off();
  }
}
