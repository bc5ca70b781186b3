/**
 * The codecs the SFU forwards, in one table: which a publisher may send, which subscribers are
 * offered, and how a codec named in SDP (MIME type and a=fmtp) maps to the core's hooks. VP8
 * stays first, so browser cameras publish VP8 unless they offer nothing else; H.264 is forwarded
 * in packetization-mode 1 (RFC 6184 §6.3) for the profiles every WebRTC browser decodes (RFC 7742
 * §6.2: constrained baseline, and what Chromium negotiates besides: baseline and main).
 */
import { OPUS, PCMA, PCMU, type AudioCodecHooks, type VideoCodecHooks } from './codec.js';
import { h264Codec, parseProfileLevelId, type H264Profile } from './h264.js';
import { VP8 } from './vp8.js';

/**
 * H.264 profile-level-ids the SFU negotiates (RFC 6184 §8.1), one per profile, level 3.1 (`1f`),
 * in preference order: constrained baseline (`42e01f`, RFC 7742's mandatory one), baseline, main.
 * A stream of another level of the same profile is forwarded under this entry (the level only
 * bounds what the receiver must handle, and libwebrtc's decoders do not check it).
 */
export const WEBRTC_H264_PROFILES: Readonly<Partial<Record<H264Profile, string>>> = Object.freeze({
  'constrained-baseline': '42e01f',
  baseline: '42001f',
  main: '4d001f',
});

/** Video codecs, in the SFU's preference order (VP8 first: the default for browser cameras). */
export const FORWARDED_VIDEO_CODECS: readonly VideoCodecHooks[] = Object.freeze([VP8, ...Object.values(WEBRTC_H264_PROFILES).map((p) => h264Codec(p))]);
/** Audio codecs a publisher leg accepts (browsers: Opus). */
export const PUBLISHED_AUDIO_CODECS: readonly AudioCodecHooks[] = Object.freeze([OPUS]);
/** Audio codecs subscribers are offered: Opus, and G.711 (PCMU, PCMA) that cameras pass through. */
export const FORWARDED_AUDIO_CODECS: readonly AudioCodecHooks[] = Object.freeze([OPUS, PCMU, PCMA]);

/** A codec as SDP names it: encoding name (a=rtpmap, case-insensitive) and format parameters (a=fmtp). */
export interface SdpCodec {
  /** e.g. `VP8`, `H264`, `opus` (no `video/` prefix) or a MIME type such as `video/H264`. */
  name: string;
  clockRate: number;
  /** a=fmtp parameters, e.g. `profile-level-id=42e01f;packetization-mode=1`; '' when none. */
  parameters: string;
}

/** Parameters of an a=fmtp line (`key=value;key=value`), keys lower-cased. */
export function fmtpParameters(parameters: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of parameters.split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out.set(part.slice(0, i).trim().toLowerCase(), part.slice(i + 1).trim());
  }
  return out;
}

/**
 * The profile-level-id the SFU negotiates for an H.264 codec with these a=fmtp parameters, or
 * undefined when it is not forwarded: packetization-mode must be 1 (RFC 6184 §8.1: absent means
 * 0), and the profile one of {@link WEBRTC_H264_PROFILES} (an absent profile-level-id means
 * baseline at level 1, §8.1).
 */
export function forwardedH264Profile(parameters: string): string | undefined {
  const p = fmtpParameters(parameters);
  if (p.get('packetization-mode') !== '1') return undefined;
  const pli = parseProfileLevelId(p.get('profile-level-id') ?? '42000a');
  return pli ? WEBRTC_H264_PROFILES[pli.profile] : undefined;
}

function baseName(name: string): string {
  const lower = name.toLowerCase();
  return lower.includes('/') ? lower.slice(lower.indexOf('/') + 1) : lower;
}

/**
 * The hooks of a video codec named in SDP when the SFU forwards it (VP8; H.264 in
 * packetization-mode 1 of a forwarded profile, under the SFU's own profile-level-id), else undefined.
 */
export function videoCodecFor(codec: SdpCodec): VideoCodecHooks | undefined {
  const name = baseName(codec.name);
  if (codec.clockRate !== 90_000) return undefined;
  if (name === 'vp8') return VP8;
  if (name !== 'h264') return undefined;
  const profile = forwardedH264Profile(codec.parameters);
  return profile ? FORWARDED_VIDEO_CODECS.find((c) => c.parameters?.endsWith(`profile-level-id=${profile}`)) : undefined;
}

/** The hooks of an audio codec named in SDP when the SFU forwards it (Opus, PCMU, PCMA), else undefined. */
export function audioCodecFor(codec: SdpCodec): AudioCodecHooks | undefined {
  const name = baseName(codec.name);
  return FORWARDED_AUDIO_CODECS.find((c) => baseName(c.mimeType) === name && c.clockRate === codec.clockRate);
}
