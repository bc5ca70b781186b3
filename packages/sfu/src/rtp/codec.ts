/**
 * What the SFU core needs to know about a codec, so that it does not hard-wire one: for video,
 * how to tell a keyframe (a layer switch waits for one) and, optionally, the frame size a keyframe
 * carries (layer selection compares it with render sizes). Each codec module (vp8.ts; H.264 later)
 * exports one of these; a publication carries the hooks of its negotiated codec.
 */

/** Per-codec hooks for a video publication. Pure functions of one RTP payload; must never throw. */
export interface VideoCodecHooks {
  /** MIME type as in SDP (RFC 8866 a=rtpmap) and WebRTC, e.g. `video/VP8`. */
  readonly mimeType: string;
  /** RTP clock rate, Hz (90,000 for every video codec WebRTC uses). */
  readonly clockRate: number;
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
  /** RTP clock rate, Hz (48,000 for Opus, RFC 7587 §4.1). */
  readonly clockRate: number;
}

/** Opus (RFC 7587). */
export const OPUS: AudioCodecHooks = Object.freeze({ mimeType: 'audio/opus', clockRate: 48_000 });
