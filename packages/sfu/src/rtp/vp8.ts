/**
 * VP8 over RTP (RFC 7741): keyframe detection and the keyframe's frame size, the two facts the
 * SFU reads from a VP8 payload. {@link VP8} bundles them as the codec's {@link VideoCodecHooks}.
 */
import type { VideoCodecHooks } from './codec.js';

/**
 * Offset of the VP8 payload header (RFC 7741 §4.3) when a VP8 RTP payload starts a frame
 * (S=1, PID=0, after the payload descriptor of §4.2), else -1.
 */
function vp8FrameStart(payload: Uint8Array): number {
  if (payload.length < 1) return -1;
  const b0 = payload[0]!;
  const start = (b0 & 0x10) !== 0 && (b0 & 0x07) === 0;
  if (!start) return -1;
  let i = 1;
  if (b0 & 0x80) {
    if (payload.length < 2) return -1;
    const x = payload[1]!;
    i = 2;
    if (x & 0x80) i += (payload[i]! & 0x80) ? 2 : 1; // PictureID, 7 or 15 bits
    if (x & 0x40) i += 1; // TL0PICIDX
    if (x & 0x30) i += 1; // TID/Y/KEYIDX
  }
  return i < payload.length ? i : -1;
}

/**
 * True when a VP8 RTP payload starts a keyframe (RFC 7741 §4.2–§4.3): start of a partition
 * (S=1, PID=0) and the VP8 payload header's P bit is 0.
 */
export function isVp8Keyframe(payload: Uint8Array): boolean {
  const i = vp8FrameStart(payload);
  return i >= 0 && (payload[i]! & 0x01) === 0;
}

/**
 * The frame size a VP8 keyframe carries (RFC 6386 §9.1: after the 3-byte frame tag, the start
 * code 9d 01 2a, then 14-bit width and height, little-endian, with 2 scaling bits each).
 * @returns pixels, or undefined when the payload does not start a keyframe with a valid header
 */
export function vp8KeyframeSize(payload: Uint8Array): { width: number; height: number } | undefined {
  const i = vp8FrameStart(payload);
  if (i < 0 || (payload[i]! & 0x01) !== 0 || payload.length < i + 10) return undefined;
  if (payload[i + 3] !== 0x9d || payload[i + 4] !== 0x01 || payload[i + 5] !== 0x2a) return undefined;
  const width = (payload[i + 6]! | (payload[i + 7]! << 8)) & 0x3fff;
  const height = (payload[i + 8]! | (payload[i + 9]! << 8)) & 0x3fff;
  return width > 0 && height > 0 ? { width, height } : undefined;
}

/** VP8's hooks for the SFU core (RFC 7741; RFC 6386 §9.1 for the keyframe size). */
export const VP8: VideoCodecHooks = Object.freeze({ mimeType: 'video/VP8', clockRate: 90_000, isKeyframe: isVp8Keyframe, keyframeSize: vp8KeyframeSize });
