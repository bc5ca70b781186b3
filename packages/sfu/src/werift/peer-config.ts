/**
 * werift peer connection configuration for the SFU's two legs: codecs (VP8 and Opus, what
 * sdp-policy.ts accepts) and the header extensions each leg negotiates.
 */
import {
  RTCRtpCodecParameters,
  useAbsSendTime,
  useAudioLevelIndication,
  useSdesMid,
  useSdesRTPStreamId,
  type PeerConfig,
} from 'werift';

const VIDEO = new RTCRtpCodecParameters({
  mimeType: 'video/VP8',
  clockRate: 90000,
  rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }, { type: 'goog-remb' }],
});
const AUDIO = new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 });

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
    codecs: { video: [VIDEO], audio: [AUDIO] },
  };
  return {
    // Publisher leg: simulcast layers are told apart by rid (RFC 8852), bundled streams by mid
    // (RFC 8843); audio carries its level (RFC 6464) for active-speaker detection. No
    // transport-cc: werift's TWCC feedback is malformed and collapses the client's estimate; the
    // SFU sends REMB instead (core/bwe-feedback.ts).
    publisher: { ...base, headerExtensions: { video: [useSdesMid(), useSdesRTPStreamId()], audio: [useSdesMid(), useAudioLevelIndication()] } },
    // Subscriber leg: abs-send-time lets the client's receive-side estimator work, so it sends REMB.
    subscriber: { ...base, headerExtensions: { video: [useSdesMid(), useAbsSendTime()], audio: [useSdesMid()] } },
  };
}
