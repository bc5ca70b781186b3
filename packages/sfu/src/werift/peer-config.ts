/**
 * werift peer connection configuration for the SFU's two legs: codecs (rtp/codec-table.ts: VP8
 * and H.264 for video, Opus from publishers, Opus and G.711 to subscribers) and the header
 * extensions each leg negotiates; and the mapping between werift's codec parameters and the
 * core's codec hooks.
 */
import {
  RTCRtpCodecParameters,
  useAbsSendTime,
  useAudioLevelIndication,
  useSdesMid,
  useSdesRTPStreamId,
  type PeerConfig,
} from 'werift';
import { PCMA, PCMU, type AudioCodecHooks, type VideoCodecHooks } from '../rtp/codec.js';
import { FORWARDED_AUDIO_CODECS, FORWARDED_VIDEO_CODECS, PUBLISHED_AUDIO_CODECS, audioCodecFor, videoCodecFor } from '../rtp/codec-table.js';

const VIDEO_FEEDBACK = [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }, { type: 'goog-remb' }];

/**
 * werift's codec parameters for a codec the core knows (a subscriber track's source codec: the
 * transceiver then offers exactly this codec). Static payload types for G.711 (RFC 3551 §6).
 */
export function weriftCodec(codec: VideoCodecHooks | AudioCodecHooks): RTCRtpCodecParameters {
  const video = codec.clockRate === 90_000 && codec.mimeType.toLowerCase().startsWith('video/');
  const staticPt = codec === PCMU ? 0 : codec === PCMA ? 8 : undefined;
  return new RTCRtpCodecParameters({
    mimeType: codec.mimeType,
    clockRate: codec.clockRate,
    ...('channels' in codec && codec.channels !== undefined ? { channels: codec.channels } : {}),
    ...(codec.parameters ? { parameters: codec.parameters } : {}),
    ...(staticPt !== undefined ? { payloadType: staticPt } : {}),
    rtcpFeedback: video ? VIDEO_FEEDBACK : [],
  });
}

/** The core's hooks for a codec werift negotiated, when the SFU forwards it. */
export function codecHooks(kind: 'audio' | 'video', codec: RTCRtpCodecParameters): VideoCodecHooks | AudioCodecHooks | undefined {
  const sdp = { name: codec.mimeType, clockRate: codec.clockRate, parameters: codec.parameters ?? '' };
  return kind === 'video' ? videoCodecFor(sdp) : audioCodecFor(sdp);
}

const PUBLISHER_CODECS = { video: FORWARDED_VIDEO_CODECS.map(weriftCodec), audio: PUBLISHED_AUDIO_CODECS.map(weriftCodec) };
const SUBSCRIBER_CODECS = { video: FORWARDED_VIDEO_CODECS.map(weriftCodec), audio: FORWARDED_AUDIO_CODECS.map(weriftCodec) };

/** FMT of a Full Intra Request (RFC 5104 §4.3.1; werift does not export its class). */
export const FIR_FMT = 4;

/**
 * Configurations of the publisher leg (the client offers its tracks) and the subscriber leg (the
 * SFU offers the tracks it forwards).
 * @param announcedAddresses extra host addresses to gather (werift gathers no loopback otherwise)
 * @param portRange inclusive UDP port range for ICE, or undefined for any port
 */
export function legConfigs(announcedAddresses: string[], portRange: [number, number] | undefined): { publisher: Partial<PeerConfig>; subscriber: Partial<PeerConfig> } {
  const base = {
    iceServers: [], // ours only: werift would otherwise use its default (see patches/default-stun.ts)
    iceAdditionalHostAddresses: announcedAddresses,
    ...(portRange ? { icePortRange: portRange } : {}),
  };
  return {
    // Publisher leg: simulcast layers are told apart by rid (RFC 8852), bundled streams by mid
    // (RFC 8843); audio carries its level (RFC 6464) for active-speaker detection. No
    // transport-cc: werift's TWCC feedback is malformed and collapses the client's estimate; the
    // SFU sends REMB instead (core/bwe-feedback.ts).
    publisher: { ...base, codecs: PUBLISHER_CODECS, headerExtensions: { video: [useSdesMid(), useSdesRTPStreamId()], audio: [useSdesMid(), useAudioLevelIndication()] } },
    // Subscriber leg: abs-send-time lets the client's receive-side estimator work, so it sends REMB.
    subscriber: { ...base, codecs: SUBSCRIBER_CODECS, headerExtensions: { video: [useSdesMid(), useAbsSendTime()], audio: [useSdesMid()] } },
  };
}
