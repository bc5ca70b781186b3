/** Hostile or useless SDP from a client is refused before it reaches werift. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filterOfferCodecs, sdpProblem, sendingMids, MAX_M_LINES } from '../src/sdp/sdp-policy.js';

const head = 'v=0\r\no=- 4611 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0 1\r\n';
const fp = 'a=fingerprint:sha-256 12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0\r\n';
const audio = 'm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\n';
const video = (codec = 'VP8') => `m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:1\r\na=rtpmap:96 ${codec}/90000\r\n`;

test('a Chrome-like offer with opus and VP8 and a fingerprint is accepted', () => {
  assert.equal(sdpProblem(head + fp + audio + video()), null);
  assert.equal(sdpProblem(head + audio + fp + video().replace('a=mid:1', `a=mid:1\r\n${fp.trim()}`)), null, 'per-media fingerprints');
});

test('a missing DTLS fingerprint is refused', () => {
  assert.match(sdpProblem(head + audio + video())!, /no DTLS fingerprint/);
});

test('an absurd number of m-lines is refused', () => {
  const many = Array.from({ length: MAX_M_LINES + 1 }, () => video()).join('');
  assert.match(sdpProblem(head + fp + many)!, /m-lines \(at most 32\)/);
});

test('media sections offering only codecs the SFU does not forward are refused', () => {
  assert.match(sdpProblem(head + fp + audio + video('VP9'))!, /offers only VP9; the SFU forwards VP8, H264/);
  // H.264 without packetization-mode=1 is mode 0 (RFC 6184 §8.1): not forwarded.
  assert.match(sdpProblem(head + fp + audio + video('H264'))!, /offers only H264; the SFU forwards VP8, H264 \(packetization-mode 1/);
  assert.match(sdpProblem(head + fp + 'm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n')!, /offers only PCMU; the SFU forwards opus/, 'publishers send Opus');
  assert.equal(sdpProblem(head + fp + 'm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n', Infinity, 'subscriber'), null, 'a subscriber may take G.711 (a camera\'s audio)');
  assert.equal(sdpProblem(head + fp + audio + video('VP9').replace('m=video 9', 'm=video 0')), null, 'a rejected section (port 0) is fine');
});

test('H.264 in packetization-mode 1 of a WebRTC profile is accepted; high profile and mode 0 are not', () => {
  const h264 = (fmtp: string) => video('H264') + `a=fmtp:96 ${fmtp}\r\n`;
  assert.equal(sdpProblem(head + fp + audio + h264('level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f')), null);
  assert.equal(sdpProblem(head + fp + audio + h264('packetization-mode=1;profile-level-id=42001f')), null);
  assert.equal(sdpProblem(head + fp + audio + h264('profile-level-id=4d0028;packetization-mode=1')), null, 'main, any level');
  assert.match(sdpProblem(head + fp + audio + h264('packetization-mode=0;profile-level-id=42e01f'))!, /offers only H264/);
  assert.match(sdpProblem(head + fp + audio + h264('packetization-mode=1;profile-level-id=640c1f'))!, /offers only H264/, 'high profile: not what every browser decodes');
});

/** Chromium 156's video section (RTX after each format, mode 0 next to mode 1). */
const chromiumVideo = [
  'm=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 107 108 109 98 99',
  'a=mid:1',
  'a=rtpmap:96 VP8/90000',
  'a=rtcp-fb:96 nack',
  'a=rtpmap:97 rtx/90000',
  'a=fmtp:97 apt=96',
  'a=rtpmap:102 H264/90000',
  'a=rtcp-fb:102 nack pli',
  'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f',
  'a=rtpmap:103 rtx/90000',
  'a=fmtp:103 apt=102',
  'a=rtpmap:104 H264/90000',
  'a=rtcp-fb:104 nack pli',
  'a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f',
  'a=rtpmap:107 rtx/90000',
  'a=fmtp:107 apt=104',
  'a=rtpmap:108 H264/90000',
  'a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f',
  'a=rtpmap:109 rtx/90000',
  'a=fmtp:109 apt=108',
  'a=rtpmap:98 VP9/90000',
  'a=fmtp:98 profile-id=0',
  'a=rtpmap:99 rtx/90000',
  'a=fmtp:99 apt=98',
  '',
].join('\r\n');

test('filterOfferCodecs takes out the H.264 formats the SFU does not forward, with their RTX, and nothing else', () => {
  const sdp = head + fp + audio + chromiumVideo;
  const out = filterOfferCodecs(sdp);
  assert.match(out, /^m=video 9 UDP\/TLS\/RTP\/SAVPF 96 97 102 103 98 99\r$/m, 'mode 0 (104, rtx 107) and high (108, rtx 109) gone');
  for (const pt of ['104', '107', '108', '109']) assert.doesNotMatch(out, new RegExp(`^a=(rtpmap|fmtp|rtcp-fb):${pt} `, 'm'), `no line of ${pt}`);
  assert.match(out, /^a=rtcp-fb:102 nack pli\r$/m);
  assert.ok(out.startsWith(head + fp + audio), 'session and audio untouched');
  assert.ok(out.endsWith('\r\n'), 'CRLF kept');
  assert.equal(filterOfferCodecs(head + fp + audio + video()), head + fp + audio + video(), 'nothing to take out: unchanged');
  assert.equal(sdpProblem(out), null);
});

test('garbage is not an SDP', () => {
  assert.match(sdpProblem('hello')!, /no v=0/);
  assert.match(sdpProblem('v=0\r\n')!, /no m-lines/);
});

test('sendingMids: the sections the author sends in (direction, port 0, default sendrecv)', () => {
  const sdp = [
    'v=0',
    'o=- 1 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'm=audio 9 UDP/TLS/RTP/SAVPF 111',
    'a=mid:0',
    'a=sendonly',
    'm=video 9 UDP/TLS/RTP/SAVPF 96',
    'a=mid:1',
    'a=inactive',
    'm=video 9 UDP/TLS/RTP/SAVPF 96',
    'a=mid:2',
    'm=video 0 UDP/TLS/RTP/SAVPF 96',
    'a=mid:3',
    'a=sendonly',
    'm=video 9 UDP/TLS/RTP/SAVPF 96',
    'a=recvonly',
    'a=mid:4',
    '',
  ].join('\r\n');
  assert.deepEqual([...sendingMids(sdp)].sort(), ['0', '2']);
  assert.deepEqual([...sendingMids('garbage')], []);
});

test('a bundle-only section (port 0, RFC 8843 §6: webrtcbin, OBS) is in use: checked, sending, and given port 9 for werift', () => {
  const bundled = head + fp + video() + 'm=audio 0 UDP/TLS/RTP/SAVPF 111\r\na=mid:2\r\na=bundle-only\r\na=sendonly\r\na=rtpmap:111 OPUS/48000/2\r\n';
  assert.equal(sdpProblem(bundled), null);
  assert.ok(sendingMids(bundled).has('2'), 'the bundle-only audio sends');
  assert.match(filterOfferCodecs(bundled), /^m=audio 9 UDP\/TLS\/RTP\/SAVPF 111\r$/m);
  assert.match(sdpProblem(head + fp + video() + 'm=audio 0 UDP/TLS/RTP/SAVPF 0\r\na=mid:2\r\na=bundle-only\r\na=rtpmap:0 PCMU/8000\r\n')!, /offers only PCMU/, 'and checked like any other');
  assert.equal(sendingMids(head + fp + video() + 'm=audio 0 UDP/TLS/RTP/SAVPF 111\r\na=mid:2\r\na=sendonly\r\na=rtpmap:111 OPUS/48000/2\r\n').has('2'), false, 'port 0 without bundle-only: rejected');
});
