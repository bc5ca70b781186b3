/** Hostile or useless SDP from a client is refused before it reaches werift. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sdpProblem, sendingMids, MAX_M_LINES } from '../src/sdp/sdp-policy.js';

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
  assert.match(sdpProblem(head + fp + audio + video('H264'))!, /offers only h264; the SFU forwards vp8/);
  assert.match(sdpProblem(head + fp + 'm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=rtpmap:0 PCMU/8000\r\n')!, /offers only pcmu/);
  assert.equal(sdpProblem(head + fp + audio + video('H264').replace('m=video 9', 'm=video 0')), null, 'a rejected section (port 0) is fine');
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
