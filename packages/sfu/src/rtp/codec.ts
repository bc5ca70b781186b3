/**
 * What the SFU core needs to know about a codec, so that it does not hard-wire one: for video,
 * how to tell a keyframe (a layer switch waits for one) and, optionally, the frame size a keyframe
 * carries (layer selection compares it with render sizes). Each codec module (vp8.ts, h264.ts)
 * exports one of these; a publication carries the hooks of its negotiated codec, and its SDP
 * parameters so that subscribers are offered exactly that codec.
 */

/** Per-codec hooks for a video publication. Pure functions of one RTP payload; must never throw. */
export interface VideoCodecHooks {
  /** MIME type as in SDP (RFC 8866 a=rtpmap) and WebRTC, e.g. `video/VP8`. */
  readonly mimeType: string;
  /** RTP clock rate, Hz (90,000 for every video codec WebRTC uses). */
  readonly clockRate: number;
  /** Format parameters as in SDP a=fmtp (RFC 8866 §6.15), e.g. H.264's profile-level-id; none for VP8. */
  readonly parameters?: string;
  /**
   * True when `payload` (one RTP packet's payload, after the RTP header) starts a keyframe, i.e.
   * a decoder can start from this packet on.
   */
  isKeyframe(payload: Uint8Array): boolean;
  /** The frame size a keyframe's first packet carries, pixels; undefined for anything else. */
  keyframeSize?(payload: Uint8Array): { width: number; height: number } | undefined;
}

/** Hooks for an audio publication: nothing codec-specific is read from audio payloads. */
export interface AudioCodecHooks {
  /** MIME type, e.g. `audio/opus`. */
  readonly mimeType: string;
  /** RTP clock rate, Hz (48,000 for Opus, RFC 7587 §4.1; 8,000 for G.711, RFC 3551 §4.5.14). */
  readonly clockRate: number;
  /** Channels as in a=rtpmap (Opus is always announced with 2, RFC 7587 §7). Default 1. */
  readonly channels?: number;
  /** Format parameters as in SDP a=fmtp, if any. */
  readonly parameters?: string;
}

/** Opus (RFC 7587). */
export const OPUS: AudioCodecHooks = Object.freeze({ mimeType: 'audio/opus', clockRate: 48_000, channels: 2 });
/** G.711 µ-law (RFC 3551 §4.5.14, static payload type 0): what many IP cameras send. */
export const PCMU: AudioCodecHooks = Object.freeze({ mimeType: 'audio/PCMU', clockRate: 8000 });
/** G.711 A-law (RFC 3551 §4.5.14, static payload type 8). */
export const PCMA: AudioCodecHooks = Object.freeze({ mimeType: 'audio/PCMA', clockRate: 8000 });

/** Whether two codecs are the same for forwarding: MIME type (case-insensitive), clock rate and parameters. */
export function sameCodec(a: VideoCodecHooks | AudioCodecHooks, b: VideoCodecHooks | AudioCodecHooks): boolean {
  return a.mimeType.toLowerCase() === b.mimeType.toLowerCase() && a.clockRate === b.clockRate && (a.parameters ?? '') === (b.parameters ?? '');
}
