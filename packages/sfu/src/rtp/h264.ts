/**
 * H.264 over RTP (RFC 6184), the facts the SFU reads from a payload: whether a packet starts a
 * keyframe, and the picture size its sequence parameter set (SPS) announces. {@link h264Codec}
 * bundles them as the codec's {@link VideoCodecHooks}; profile-level-id (RFC 6184 §8.1) is read
 * by {@link parseProfileLevelId}.
 *
 * Only packetization-mode 1 (non-interleaved, RFC 6184 §6.3) is forwarded: single NAL unit
 * packets, STAP-A and FU-A. NAL unit header (RFC 6184 §1.3, H.264 §7.3.1):
 * ```
 * +---------------+
 * |0|1|2|3|4|5|6|7|
 * |F|NRI|  Type   |
 * +---------------+
 * ```
 */
import type { VideoCodecHooks } from './codec.js';

/** NAL unit types (H.264 Table 7-1; RFC 6184 Table 1 for 24–29). */
export const NAL = Object.freeze({
  /** Coded slice of an IDR picture: a decoder can start here. */
  IDR: 5,
  /** Sequence parameter set. */
  SPS: 7,
  /** Picture parameter set. */
  PPS: 8,
  /** Single-time aggregation packet (RFC 6184 §5.7.1). */
  STAP_A: 24,
  /** Fragmentation unit (RFC 6184 §5.8). */
  FU_A: 28,
});

/**
 * Whether one NAL unit type begins a keyframe. An IDR slice does; so does an SPS: libwebrtc and
 * GStreamer's rtph264pay (config-interval=-1) send SPS and PPS with the IDR picture's timestamp
 * right before its first slice, so a subscriber that starts at the SPS gets the parameter sets it
 * needs to decode the IDR (a switch at the IDR's first fragment would miss them).
 */
function startsKeyframe(type: number): boolean {
  return type === NAL.IDR || type === NAL.SPS;
}

/**
 * True when an H.264 RTP payload (packetization-mode 1) starts a keyframe, i.e. a subscriber can
 * start decoding from this packet on:
 * - a single NAL unit packet (RFC 6184 §5.6, types 1–23) holding an IDR slice or an SPS;
 * - a STAP-A (§5.7.1, type 24) aggregating an IDR slice or an SPS (each unit: 16-bit size, then
 *   the NAL unit);
 * - the first fragment of an FU-A (§5.8, type 28: FU indicator, then FU header with S=1) of an
 *   IDR slice or an SPS.
 * Anything else (non-IDR slices, PPS or SEI alone, later fragments, STAP-B/MTAP/FU-B of the
 * interleaved mode, truncated input) is false. Pure; never throws.
 */
export function isH264Keyframe(payload: Uint8Array): boolean {
  if (payload.length < 1) return false;
  const type = payload[0]! & 0x1f;
  if (type >= 1 && type <= 23) return startsKeyframe(type);
  if (type === NAL.STAP_A) {
    for (let i = 1; i + 2 < payload.length; ) {
      const size = (payload[i]! << 8) | payload[i + 1]!;
      if (size === 0 || i + 2 + size > payload.length) return false;
      if (startsKeyframe(payload[i + 2]! & 0x1f)) return true;
      i += 2 + size;
    }
    return false;
  }
  if (type === NAL.FU_A) {
    if (payload.length < 2) return false;
    const fuHeader = payload[1]!;
    return (fuHeader & 0x80) !== 0 && startsKeyframe(fuHeader & 0x1f);
  }
  return false;
}

/**
 * The SPS NAL unit an H.264 RTP payload carries whole (a single NAL unit packet or inside a
 * STAP-A), without its 1-byte NAL header; undefined when it carries none.
 */
function spsOf(payload: Uint8Array): Uint8Array | undefined {
  if (payload.length < 2) return undefined;
  const type = payload[0]! & 0x1f;
  if (type === NAL.SPS) return payload.subarray(1);
  if (type !== NAL.STAP_A) return undefined;
  for (let i = 1; i + 2 < payload.length; ) {
    const size = (payload[i]! << 8) | payload[i + 1]!;
    if (size === 0 || i + 2 + size > payload.length) return undefined;
    if ((payload[i + 2]! & 0x1f) === NAL.SPS) return payload.subarray(i + 3, i + 2 + size);
    i += 2 + size;
  }
  return undefined;
}

/** Reads the bits of an RBSP (H.264 §7.2: emulation prevention bytes 0x000003 removed as it goes). */
class BitReader {
  private byte = 0;
  private bit = 0;
  private zeros = 0;
  private current = 0;
  constructor(private readonly data: Uint8Array) {
    this.load();
  }

  private load(): void {
    if (this.byte >= this.data.length) throw new RangeError('SPS truncated');
    let b = this.data[this.byte]!;
    if (this.zeros >= 2 && b === 3) {
      // emulation_prevention_three_byte: skipped
      this.byte++;
      this.zeros = 0;
      if (this.byte >= this.data.length) throw new RangeError('SPS truncated');
      b = this.data[this.byte]!;
    }
    this.zeros = b === 0 ? this.zeros + 1 : 0;
    this.current = b;
  }

  /** u(1) */
  flag(): boolean {
    if (this.current < 0) throw new RangeError('SPS truncated');
    const v = (this.current >> (7 - this.bit)) & 1;
    if (++this.bit === 8) {
      this.bit = 0;
      this.byte++;
      if (this.byte < this.data.length) this.load();
      else this.current = -1;
    }
    return v === 1;
  }

  /** u(n), n ≤ 16 */
  bits(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = (v << 1) | (this.flag() ? 1 : 0);
    return v;
  }

  /** ue(v): unsigned Exp-Golomb (H.264 §9.1), up to 31 leading zeros. */
  ue(): number {
    let zeros = 0;
    while (!this.flag()) if (++zeros > 31) throw new RangeError('bad Exp-Golomb code');
    return zeros === 0 ? 0 : 2 ** zeros - 1 + this.bitsLong(zeros);
  }

  /** se(v): signed Exp-Golomb (H.264 §9.1.1). */
  se(): number {
    const k = this.ue();
    return k % 2 === 1 ? (k + 1) / 2 : -(k / 2);
  }

  private bitsLong(n: number): number {
    let v = 0;
    for (let i = 0; i < n; i++) v = v * 2 + (this.flag() ? 1 : 0);
    return v;
  }
}

/** profile_idc values whose SPS carries chroma format, bit depths and scaling matrices (H.264 §7.3.2.1.1). */
const HIGH_PROFILES = new Set([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135]);

/** Skips a scaling_list() of `size` coefficients (H.264 §7.3.2.1.1.1). */
function skipScalingList(r: BitReader, size: number): void {
  let last = 8;
  let next = 8;
  for (let j = 0; j < size; j++) {
    if (next !== 0) next = (last + r.se() + 256) % 256;
    last = next === 0 ? last : next;
  }
}

/**
 * The picture size an SPS RBSP announces (H.264 §7.3.2.1.1 seq_parameter_set_data and §7.4.2.1.1
 * semantics: macroblocks, frame_mbs_only_flag, frame cropping).
 * @param sps the SPS NAL unit after its 1-byte header (emulation prevention bytes still in)
 * @returns pixels, or undefined for a truncated or nonsensical SPS (never throws)
 */
export function parseH264SpsSize(sps: Uint8Array): { width: number; height: number } | undefined {
  try {
    const r = new BitReader(sps);
    const profileIdc = r.bits(8);
    r.bits(8); // constraint_set flags, reserved_zero_2bits
    r.bits(8); // level_idc
    r.ue(); // seq_parameter_set_id
    let chromaFormatIdc = 1;
    let separateColourPlane = false;
    if (HIGH_PROFILES.has(profileIdc)) {
      chromaFormatIdc = r.ue();
      if (chromaFormatIdc > 3) return undefined;
      if (chromaFormatIdc === 3) separateColourPlane = r.flag();
      r.ue(); // bit_depth_luma_minus8
      r.ue(); // bit_depth_chroma_minus8
      r.flag(); // qpprime_y_zero_transform_bypass_flag
      if (r.flag()) {
        // seq_scaling_matrix_present_flag
        const lists = chromaFormatIdc === 3 ? 12 : 8;
        for (let i = 0; i < lists; i++) if (r.flag()) skipScalingList(r, i < 6 ? 16 : 64);
      }
    }
    r.ue(); // log2_max_frame_num_minus4
    const pocType = r.ue();
    if (pocType === 0) r.ue(); // log2_max_pic_order_cnt_lsb_minus4
    else if (pocType === 1) {
      r.flag(); // delta_pic_order_always_zero_flag
      r.se(); // offset_for_non_ref_pic
      r.se(); // offset_for_top_to_bottom_field
      const cycle = r.ue();
      if (cycle > 255) return undefined;
      for (let i = 0; i < cycle; i++) r.se();
    } else if (pocType !== 2) return undefined;
    r.ue(); // max_num_ref_frames
    r.flag(); // gaps_in_frame_num_value_allowed_flag
    const widthMbs = r.ue() + 1;
    const heightMapUnits = r.ue() + 1;
    const frameMbsOnly = r.flag();
    if (!frameMbsOnly) r.flag(); // mb_adaptive_frame_field_flag
    r.flag(); // direct_8x8_inference_flag
    let width = widthMbs * 16;
    let height = (frameMbsOnly ? 1 : 2) * heightMapUnits * 16;
    if (r.flag()) {
      // frame_cropping_flag: offsets in crop units (Table 6-1: SubWidthC, SubHeightC)
      const [left, right, top, bottom] = [r.ue(), r.ue(), r.ue(), r.ue()];
      const chroma = separateColourPlane ? 0 : chromaFormatIdc;
      const cropX = chroma === 0 ? 1 : chroma === 3 ? 1 : 2;
      const cropY = (chroma === 1 ? 2 : 1) * (frameMbsOnly ? 1 : 2);
      width -= cropX * (left + right);
      height -= cropY * (top + bottom);
    }
    return width > 0 && height > 0 && width <= 16_384 && height <= 16_384 ? { width, height } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The picture size an H.264 RTP payload's SPS announces (a keyframe's first packet carries one,
 * see {@link isH264Keyframe}); undefined when the payload holds no whole SPS.
 */
export function h264KeyframeSize(payload: Uint8Array): { width: number; height: number } | undefined {
  const sps = spsOf(payload);
  return sps ? parseH264SpsSize(sps) : undefined;
}

/** An H.264 profile (H.264 Annex A), as profile-level-id names it (RFC 6184 §8.1, RFC 7742 §6.2). */
export type H264Profile = 'constrained-baseline' | 'baseline' | 'main' | 'extended' | 'high' | 'constrained-high' | 'other';

/**
 * Reads an RFC 6184 §8.1 profile-level-id (6 hex digits: profile_idc, profile-iop constraint
 * flags, level_idc).
 * @returns the profile (constrained baseline: profile_idc 66 with constraint_set1_flag, 77 with
 *   constraint_set0, or 88 with constraint_set0 and constraint_set1, RFC 6184 §8.1 Table 5; constrained high: 100 with
 *   constraint_set4 and set5), and the three bytes as numbers (levelIdc is the level × 10);
 *   undefined when the string is not 6 hex digits
 */
export function parseProfileLevelId(value: string): { profile: H264Profile; profileIdc: number; iop: number; levelIdc: number } | undefined {
  if (!/^[0-9a-fA-F]{6}$/.test(value)) return undefined;
  const profileIdc = parseInt(value.slice(0, 2), 16);
  const iop = parseInt(value.slice(2, 4), 16);
  const levelIdc = parseInt(value.slice(4, 6), 16);
  const set0 = (iop & 0x80) !== 0;
  const set1 = (iop & 0x40) !== 0;
  let profile: H264Profile = 'other';
  if (profileIdc === 66) profile = set1 ? 'constrained-baseline' : 'baseline';
  else if (profileIdc === 77) profile = set0 ? 'constrained-baseline' : 'main';
  else if (profileIdc === 88) profile = set0 && set1 ? 'constrained-baseline' : 'extended';
  else if (profileIdc === 100) profile = (iop & 0x0c) === 0x0c ? 'constrained-high' : 'high';
  return { profile, profileIdc, iop, levelIdc };
}

/** The fmtp line of an H.264 codec with this profile-level-id as WebRTC negotiates it (RFC 6184 §8.1, packetization-mode 1). */
export function h264Fmtp(profileLevelId: string): string {
  return `level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=${profileLevelId.toLowerCase()}`;
}

/**
 * H.264's hooks for the SFU core, for one negotiated profile-level-id (RFC 6184; keyframes by
 * {@link isH264Keyframe}, sizes from the SPS by {@link h264KeyframeSize}).
 * @param profileLevelId e.g. `42e01f` (constrained baseline, level 3.1)
 */
export function h264Codec(profileLevelId: string): VideoCodecHooks {
  return Object.freeze({ mimeType: 'video/H264', clockRate: 90_000, parameters: h264Fmtp(profileLevelId), isKeyframe: isH264Keyframe, keyframeSize: h264KeyframeSize });
}

/** Constrained baseline level 3.1, what every WebRTC browser sends and decodes (RFC 7742 §6.2). */
export const H264_CONSTRAINED_BASELINE: VideoCodecHooks = h264Codec('42e01f');
