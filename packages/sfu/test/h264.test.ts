/** H.264 over RTP (RFC 6184): keyframes, SPS picture sizes, profile-level-id, and the codec table. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { h264KeyframeSize, isH264Keyframe, parseH264SpsSize, parseProfileLevelId, h264Codec } from '../src/rtp/h264.js';
import { audioCodecFor, forwardedH264Profile, videoCodecFor } from '../src/rtp/codec-table.js';
import { VP8 } from '../src/rtp/vp8.js';
import { OPUS, PCMA, PCMU } from '../src/rtp/codec.js';

const hex = (s: string) => Uint8Array.from(Buffer.from(s, 'hex'));
/** NAL unit header: F=0, NRI=3, type. */
const nal = (type: number) => 0x60 | type;

/** SPS NAL units written by x264 (GStreamer's x264enc), with their header byte. */
const SPS = {
  high1080: hex('67640028acd940780227e5c05a808080a0000003002000000791e30632c0'),
  baseline360: hex('6742c01ed900a02ff97016a0c0c0d4a0000003002000000791e2c5c9'),
  main240: hex('674d4015eca0a0fd80b5060606a50000030001000003003c8f162d96'),
  high444_720: hex('67f4001f90d9b280a00b7602d40404050000030001000003003c8f183196'),
};

/** A STAP-A (RFC 6184 §5.7.1) of these NAL units. */
function stapA(...units: Uint8Array[]): Uint8Array {
  const out = [nal(24)];
  for (const u of units) out.push(u.length >> 8, u.length & 0xff, ...u);
  return Uint8Array.from(out);
}

/** An FU-A (RFC 6184 §5.8) fragment of a NAL unit of `type`. */
function fuA(type: number, start: boolean, end = false): Uint8Array {
  return Uint8Array.from([nal(28), (start ? 0x80 : 0) | (end ? 0x40 : 0) | type, 1, 2, 3, 4]);
}

test('isH264Keyframe: an IDR slice or an SPS in a single NAL unit packet (RFC 6184 §5.6)', () => {
  assert.equal(isH264Keyframe(Uint8Array.from([nal(5), 0x88, 0x84])), true, 'IDR slice');
  assert.equal(isH264Keyframe(SPS.baseline360), true, 'SPS (sent right before the IDR)');
  assert.equal(isH264Keyframe(Uint8Array.from([nal(1), 0x9a])), false, 'non-IDR slice');
  assert.equal(isH264Keyframe(Uint8Array.from([nal(8), 0xce])), false, 'PPS alone');
  assert.equal(isH264Keyframe(Uint8Array.from([0x06, 0x05])), false, 'SEI');
  assert.equal(isH264Keyframe(new Uint8Array(0)), false, 'empty');
});

test('isH264Keyframe: a STAP-A aggregating an SPS or an IDR (RFC 6184 §5.7.1)', () => {
  const pps = Uint8Array.from([nal(8), 0xce, 0x3c, 0x80]);
  assert.equal(isH264Keyframe(stapA(SPS.high1080, pps)), true, 'SPS + PPS, as libwebrtc sends them');
  assert.equal(isH264Keyframe(stapA(Uint8Array.from([0x06, 0x05, 0x01]), Uint8Array.from([nal(5), 0x88]))), true, 'SEI + IDR');
  assert.equal(isH264Keyframe(stapA(pps, Uint8Array.from([nal(1), 0x9a]))), false, 'PPS + non-IDR');
  const truncated = stapA(pps, SPS.main240).subarray(0, 8);
  assert.equal(isH264Keyframe(truncated), false, 'a unit running past the packet is not read');
  assert.equal(isH264Keyframe(Uint8Array.from([nal(24), 0x00, 0x00, nal(5)])), false, 'zero-size unit');
});

test('isH264Keyframe: the first fragment of an FU-A of an IDR or an SPS (RFC 6184 §5.8)', () => {
  assert.equal(isH264Keyframe(fuA(5, true)), true, 'start of an IDR');
  assert.equal(isH264Keyframe(fuA(5, false)), false, 'middle of an IDR');
  assert.equal(isH264Keyframe(fuA(5, false, true)), false, 'end of an IDR');
  assert.equal(isH264Keyframe(fuA(1, true)), false, 'start of a non-IDR slice');
  assert.equal(isH264Keyframe(fuA(7, true)), true, 'a fragmented SPS');
  assert.equal(isH264Keyframe(Uint8Array.from([nal(28)])), false, 'no FU header');
  assert.equal(isH264Keyframe(Uint8Array.from([nal(25), 0, 0, 0, 5, nal(5)])), false, 'STAP-B (interleaved mode) is not forwarded');
  assert.equal(isH264Keyframe(Uint8Array.from([nal(29), 0x85])), false, 'FU-B neither');
});

test('parseH264SpsSize: picture sizes of x264 SPSs, cropping and high-profile fields included (H.264 §7.3.2.1.1)', () => {
  assert.deepEqual(parseH264SpsSize(SPS.high1080.subarray(1)), { width: 1920, height: 1080 }, '1088 rows cropped to 1080');
  assert.deepEqual(parseH264SpsSize(SPS.baseline360.subarray(1)), { width: 640, height: 360 });
  assert.deepEqual(parseH264SpsSize(SPS.main240.subarray(1)), { width: 320, height: 240 });
  assert.deepEqual(parseH264SpsSize(SPS.high444_720.subarray(1)), { width: 1280, height: 720 });
  // Cut short: undefined until the cropping fields are in (the VUI after them is not read), never a wrong size.
  const sizes = Array.from({ length: SPS.high1080.length - 1 }, (_, n) => parseH264SpsSize(SPS.high1080.subarray(1, 1 + n)));
  const whole = sizes.findIndex((s) => s !== undefined);
  assert.ok(whole >= 9, `needs the fields up to frame cropping (${whole} bytes)`);
  assert.ok(sizes.every((s, n) => (n < whole ? s === undefined : s?.width === 1920 && s.height === 1080)));
  assert.equal(parseH264SpsSize(Uint8Array.from([0x42, 0, 0x1e, 0, 0, 0, 0, 0])), undefined, 'zeros: an Exp-Golomb code with no end');
});

test('h264KeyframeSize: from an SPS packet or a STAP-A holding one; nothing from other packets', () => {
  assert.deepEqual(h264KeyframeSize(SPS.baseline360), { width: 640, height: 360 });
  assert.deepEqual(h264KeyframeSize(stapA(SPS.main240, Uint8Array.from([nal(8), 0xce]))), { width: 320, height: 240 });
  assert.equal(h264KeyframeSize(fuA(5, true)), undefined);
  assert.equal(h264KeyframeSize(Uint8Array.from([nal(5), 1, 2])), undefined);
});

test('parseProfileLevelId: profiles by profile_idc and the constraint flags (RFC 6184 §8.1)', () => {
  assert.deepEqual(parseProfileLevelId('42e01f'), { profile: 'constrained-baseline', profileIdc: 66, iop: 0xe0, levelIdc: 31 });
  assert.equal(parseProfileLevelId('42c01e')?.profile, 'constrained-baseline', 'set0 + set1');
  assert.equal(parseProfileLevelId('42001f')?.profile, 'baseline');
  assert.equal(parseProfileLevelId('4d001f')?.profile, 'main');
  assert.equal(parseProfileLevelId('4dc028')?.profile, 'constrained-baseline', 'main with set0 + set1');
  assert.equal(parseProfileLevelId('4d8028')?.profile, 'constrained-baseline', 'main with set0 alone (RFC 6184 Table 5: 1xxx0000)');
  assert.equal(parseProfileLevelId('584028')?.profile, 'extended', 'extended needs set0 and set1');
  assert.equal(parseProfileLevelId('640c1f')?.profile, 'constrained-high');
  assert.equal(parseProfileLevelId('640028')?.profile, 'high');
  assert.equal(parseProfileLevelId('f4001f')?.profile, 'other');
  assert.equal(parseProfileLevelId('42e01'), undefined);
  assert.equal(parseProfileLevelId('zz0000'), undefined);
});

test('codec table: what the SFU forwards, under its own profile-level-id per profile', () => {
  assert.equal(videoCodecFor({ name: 'VP8', clockRate: 90000, parameters: '' }), VP8);
  const h264 = (parameters: string) => videoCodecFor({ name: 'video/H264', clockRate: 90000, parameters })?.parameters;
  assert.equal(h264('profile-level-id=42e01f;packetization-mode=1'), 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f');
  assert.equal(h264('profile-level-id=42C028;packetization-mode=1'), h264Codec('42e01f').parameters, 'constrained baseline level 4 goes as 42e01f');
  assert.equal(h264('profile-level-id=4d0032;packetization-mode=1'), h264Codec('4d001f').parameters);
  assert.equal(h264('profile-level-id=42e01f;packetization-mode=0'), undefined, 'mode 0');
  assert.equal(h264('profile-level-id=42e01f'), undefined, 'no packetization-mode is mode 0');
  assert.equal(h264('profile-level-id=640028;packetization-mode=1'), undefined, 'high');
  assert.equal(forwardedH264Profile('packetization-mode=1'), '42001f', 'absent profile-level-id: baseline');
  assert.equal(videoCodecFor({ name: 'VP9', clockRate: 90000, parameters: '' }), undefined);
  assert.equal(audioCodecFor({ name: 'opus', clockRate: 48000, parameters: '' }), OPUS);
  assert.equal(audioCodecFor({ name: 'audio/PCMU', clockRate: 8000, parameters: '' }), PCMU);
  assert.equal(audioCodecFor({ name: 'PCMA', clockRate: 8000, parameters: '' }), PCMA);
  assert.equal(audioCodecFor({ name: 'G722', clockRate: 8000, parameters: '' }), undefined);
});
