import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_LIMITS,
  ErrorCode,
  PROTOCOL_VERSION,
  parseClientMessage,
  parseServerMessage,
  ClientMessage,
  ServerMessage,
  CLIENT_MESSAGE_TYPES,
  SERVER_MESSAGE_TYPES,
} from '../src/index.js';

test('valid client messages of every type parse', () => {
  const samples = [
    { type: 'join', v: PROTOCOL_VERSION, token: 'x.y.z', room: 'r', metadata: '{}', resume: { sid: 'PA_1' }, id: 1 },
    { type: 'leave' },
    { type: 'sdp', to: 'bob', description: { type: 'offer', sdp: 'v=0\r\n' } },
    { type: 'candidate', to: 'bob', candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 9 typ host', sdpMid: '0', sdpMLineIndex: 0 } },
    { type: 'candidate', to: 'bob', candidate: null },
    { type: 'signal', signal: { type: 'chat', data: 'hi', to: [] } },
    { type: 'signal', signal: { type: 'chat' } },
    { type: 'update', tracks: [{ sid: 'TR_1', source: 'camera', kind: 'video', streamId: 's', muted: false }] },
    { type: 'ping', ts: 5 },
  ];
  for (const s of samples) {
    const r = parseClientMessage(JSON.stringify(s));
    assert.equal(r.ok, true, `${s.type}: ${JSON.stringify(r)}`);
  }
});

test('a signal without data or to gets OpenVidu defaults (empty data, everyone)', () => {
  const r = parseClientMessage(JSON.stringify({ type: 'signal', signal: { type: 'chat' } }));
  assert.ok(r.ok);
  assert.deepEqual(r.message, { type: 'signal', signal: { type: 'chat', data: '', to: [] } });
});

test('malformed JSON is BAD_JSON', () => {
  const r = parseClientMessage('{"type":"join",');
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.code, ErrorCode.BAD_JSON);
});

test('non-object JSON is INVALID_MESSAGE', () => {
  for (const text of ['[]', '42', 'null', '"join"']) {
    const r = parseClientMessage(text);
    assert.equal(!r.ok && r.code, ErrorCode.INVALID_MESSAGE, text);
  }
});

test('an unknown type is UNKNOWN_TYPE and keeps the ref', () => {
  const r = parseClientMessage(JSON.stringify({ type: 'subscribe', id: 7 }));
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.code, ErrorCode.UNKNOWN_TYPE);
  assert.equal(!r.ok && r.ref, 7);
});

test('an id that JSON cannot write back (1e999 is Infinity) is not echoed: the error frame stays valid (found by bench/fuzz)', () => {
  const r = parseClientMessage('{"type":"subscribe","id":1e999}');
  assert.ok(!r.ok);
  assert.equal(r.code, ErrorCode.UNKNOWN_TYPE);
  assert.equal(r.ref, undefined);
  const frame = JSON.stringify({ type: 'error', code: r.code, message: r.message, ...(r.ref !== undefined ? { ref: r.ref } : {}) });
  assert.ok(parseServerMessage(frame).ok);
});

test('a joined listing a full room at the field limits parses (found by bench/fuzz: 1 MiB was too small)', () => {
  const worst = (n: number) => '\u0001'.repeat(n); // 6 bytes each in JSON
  const info = (i: number) => ({
    sid: worst(60) + String(i).padStart(4, '0'),
    identity: worst(252) + String(i).padStart(4, '0'),
    name: worst(256),
    metadata: worst(DEFAULT_LIMITS.maxMetadataLength),
    joinedAt: Number.MAX_SAFE_INTEGER,
    grants: { canPublish: false, canSubscribe: false, canPublishData: false },
    tracks: Array.from({ length: 16 }, () => ({ sid: worst(64), source: 'screen_share_audio' as const, kind: 'video' as const, streamId: worst(128), muted: false })),
    state: 'reconnecting' as const,
  });
  assert.ok(JSON.stringify(info(0)).length <= DEFAULT_LIMITS.maxParticipantInfoJsonBytes, `one participant takes ${JSON.stringify(info(0)).length} bytes`);
  const participants = Array.from({ length: 99 }, (_, i) => info(i + 1));
  const joined = { type: 'joined', v: 1, room: 'r', participant: info(0), participants, iceServers: [], resumed: false, mode: 'sfu', limits: { maxMessageBytes: 65536, reconnectGraceMs: 10000 } };
  const text = JSON.stringify(joined);
  assert.ok(text.length > 1024 * 1024);
  const r = parseServerMessage(text);
  assert.ok(r.ok, r.ok ? '' : r.message);
});

test('schema violations are INVALID_MESSAGE naming the field', () => {
  const cases: [unknown, string][] = [
    [{ type: 'sdp', description: { type: 'offer', sdp: 'v=0' } }, 'to'],
    [{ type: 'sdp', to: 'b', description: { type: 'rollback', sdp: 'v=0' } }, 'description.type'],
    [{ type: 'signal', signal: { type: '', data: 'x' } }, 'signal.type'],
    [{ type: 'signal', signal: { type: 't', data: 5 } }, 'signal.data'],
    [{ type: 'join', v: 1 }, 'token'],
    [{ type: 'update', tracks: [{ sid: 'a', source: 'webcam', kind: 'video', streamId: 's', muted: false }] }, 'tracks.0.source'],
  ];
  for (const [msg, where] of cases) {
    const r = parseClientMessage(JSON.stringify(msg));
    assert.equal(r.ok, false, JSON.stringify(msg));
    assert.equal(!r.ok && r.code, ErrorCode.INVALID_MESSAGE);
    assert.match(!r.ok ? r.message : '', new RegExp(`at ${where.replace('.', '\\.')}`), JSON.stringify(msg));
  }
});

test('frames over the byte limit are MESSAGE_TOO_LARGE, counted in UTF-8 bytes', () => {
  const data = 'é'.repeat(DEFAULT_LIMITS.maxMessageBytes / 2); // 2 bytes each in UTF-8
  const r = parseClientMessage(JSON.stringify({ type: 'signal', signal: { type: 'x', data } }));
  assert.equal(!r.ok && r.code, ErrorCode.MESSAGE_TOO_LARGE);
  const small = parseClientMessage(JSON.stringify({ type: 'ping', ts: 1 }), 10);
  assert.equal(!small.ok && small.code, ErrorCode.MESSAGE_TOO_LARGE);
});

test('over-long fields are rejected by the schema', () => {
  const r = parseClientMessage(JSON.stringify({ type: 'signal', signal: { type: 'x', data: 'a'.repeat(DEFAULT_LIMITS.maxSignalDataLength + 1) } }));
  assert.equal(!r.ok && r.code, ErrorCode.INVALID_MESSAGE);
});

test('server messages round-trip through their schema', () => {
  const info = {
    sid: 'PA_1', identity: 'a', name: 'A', metadata: '', joinedAt: 1, state: 'active',
    grants: { canPublish: true, canSubscribe: true, canPublishData: true }, tracks: [],
  };
  const samples = [
    { type: 'joined', v: 1, room: 'r', participant: info, participants: [], iceServers: [{ urls: 'stun:127.0.0.1:3478' }], resumed: false, limits: { maxMessageBytes: 65536, reconnectGraceMs: 10000 } },
    { type: 'participant-left', sid: 'PA_1', identity: 'a', reason: 'replaced' },
    { type: 'error', code: 'RATE_LIMITED', message: 'slow down', ref: 3 },
    { type: 'signal', signal: { type: 'chat', data: 'x', to: [], from: 'a', fromSid: 'PA_1' } },
    { type: 'media-path', path: 'composite-fallback', reason: 'estimate-below-need', estimateBps: 120_000, needBps: 290_000 },
    { type: 'media-path', path: 'sfu', reason: 'probe' },
  ];
  for (const s of samples) {
    const r = parseServerMessage(JSON.stringify(s));
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(ServerMessage.parse(JSON.parse(JSON.stringify(r.message))), r.message);
  }
  const bad = parseServerMessage(JSON.stringify({ type: 'error', code: 'NOPE', message: '' }));
  assert.equal(bad.ok, false);
  for (const m of [{ type: 'media-path', path: 'mesh', reason: 'x' }, { type: 'media-path', path: 'sfu' }, { type: 'media-path', path: 'sfu', reason: 'x'.repeat(65) }, { type: 'media-path', path: 'sfu', reason: 'x', estimateBps: -1 }]) {
    assert.equal(parseServerMessage(JSON.stringify(m)).ok, false, JSON.stringify(m));
  }
});

test('every client message type in the schema is listed', () => {
  const types = ClientMessage.options.map((o) => o.shape.type.value).sort();
  assert.deepEqual(types, [...CLIENT_MESSAGE_TYPES].sort());
  assert.deepEqual(types, ['candidate', 'join', 'leave', 'ping', 'sdp', 'sfu-candidate', 'sfu-leave', 'sfu-restart-ice', 'sfu-sdp', 'signal', 'track-settings', 'update']);
  const serverTypes = ServerMessage.options.map((o) => o.shape.type.value).sort();
  assert.deepEqual(serverTypes, [...SERVER_MESSAGE_TYPES].sort(), 'and every server message type');
});
