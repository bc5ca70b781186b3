/**
 * The relayed `sdp` frame built around the sender's SDP text (relay-text.ts) says exactly what
 * serializing the validated message would, and is not used when the frame could hide a second
 * `sdp` (escaped keys, duplicates, nested objects zod strips, white space).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseClientMessage, type TokenClaims } from '@dari/protocol';
import { rawSdpJson, sdpRelayText } from '../src/signaling/relay-text.js';
import { SignalingCore, type Action } from '../src/signaling/core.js';

const SDP = 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=fingerprint:sha-256 AB:CD\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n';

/** What the relay sends for `frame` from alice: the fast text when there is one, else null. */
function relayed(frame: string): { fast: string | null; slow: unknown } {
  const parsed = parseClientMessage(frame, 65536);
  assert.ok(parsed.ok && parsed.message.type === 'sdp', `frame must be a valid sdp request: ${frame.slice(0, 80)}`);
  const d = parsed.message.description;
  return { fast: sdpRelayText(frame, 'alice', 'PA_1', d), slow: { type: 'sdp', from: 'alice', fromSid: 'PA_1', description: d } };
}

test('a compact sdp frame is relayed around its own SDP text, equal to the serialized message', () => {
  for (const sdp of [SDP, 'x', 'a "quoted" line\\r\\n', 'ends with a backslash \\', 'é ☃ 😀', '"sdp":"inside"']) {
    const frame = JSON.stringify({ type: 'sdp', id: 7, to: 'bob', description: { type: 'answer', sdp } });
    const { fast, slow } = relayed(frame);
    assert.ok(fast !== null, `fast path not taken for ${JSON.stringify(sdp)}`);
    assert.equal(fast, JSON.stringify(slow));
  }
});

test('frames where the copied text could differ from the validated SDP are serialized as usual', () => {
  const tricky = [
    // An escaped key: "\u0073dp" is the description's sdp, the literal "sdp" is in a stripped object.
    '{"type":"sdp","to":"bob","extra":{"sdp":"EVIL"},"description":{"type":"offer","\\u0073dp":"GOOD"}}',
    // Duplicate keys: JSON.parse keeps the last one.
    '{"type":"sdp","to":"bob","description":{"type":"offer","sdp":"FIRST","sdp":"LAST"}}',
    // A nested object with its own sdp, after the real one.
    '{"type":"sdp","to":"bob","description":{"type":"offer","sdp":"GOOD"},"x":{"sdp":"EVIL"}}',
    // White space around the colon.
    '{"type":"sdp","to":"bob","description":{"type":"offer","sdp" : "GOOD"}}',
    // A key ending in an escaped quote then sdp: "x\"sdp" is not the key sdp.
    '{"type":"sdp","to":"bob","x\\"sdp":"EVIL","description":{"type":"offer","\\u0073dp":"GOOD"}}',
  ];
  for (const frame of tricky) {
    const { fast, slow } = relayed(frame);
    if (fast !== null) assert.deepEqual(JSON.parse(fast), slow, `fast text differs for ${frame}`);
    assert.equal(fast, null, `fast path taken for ${frame}`);
  }
  // Not a string value: null (the schema would have refused it anyway).
  assert.equal(rawSdpJson('{"description":{"sdp":5}}'), null);
  assert.equal(rawSdpJson('{"description":{"sdp":"unterminated'), null);
});

test('the core relays an sdp frame as pre-serialized text equal to its message', () => {
  let n = 0;
  const core = new SignalingCore({ iceServers: () => [], newSid: () => `PA_${++n}`, roomPolicy: () => 'p2p' });
  for (const [conn, identity] of [[1, 'alice'], [2, 'bob']] as const) {
    core.open(conn, 0);
    const { join } = core.receive(conn, JSON.stringify({ type: 'join', v: 1, token: 't' }), 0);
    assert.ok(join);
    const claims: TokenClaims = { iss: 'k', sub: identity, exp: 9e9, room: 'r' };
    core.completeJoin(join, claims, 0);
  }
  const { actions } = core.receive(1, JSON.stringify({ type: 'sdp', to: 'bob', description: { type: 'offer', sdp: SDP } }), 0);
  const sends = actions.filter((a): a is Extract<Action, { kind: 'send' }> => a.kind === 'send' && a.conn === 2);
  assert.equal(sends.length, 1);
  assert.ok(sends[0]!.text !== undefined, 'no pre-serialized text');
  assert.equal(sends[0]!.text, JSON.stringify(sends[0]!.message));
});
