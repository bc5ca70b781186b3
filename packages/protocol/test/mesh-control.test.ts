import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode, MAX_CONTROL_MESSAGE_BYTES, encodeMeshControl, parseMeshControl, type MeshControlMessage } from '../src/index.js';

test('moved control messages parse, and encode back to the same text', () => {
  for (const path of ['p2p', 'sfu'] as const) {
    const text = `{"t":"moved","path":"${path}"}`;
    const r = parseMeshControl(text);
    assert.deepEqual(r, { ok: true, message: { t: 'moved', path } });
    assert.equal(encodeMeshControl({ t: 'moved', path }), text, 'the wire form the SDK has always sent');
  }
});

test('every malformed control message gets its reason, and nothing throws', () => {
  const cases: [unknown, ErrorCode, RegExp][] = [
    ['{"t":"moved",', ErrorCode.BAD_JSON, /malformed JSON/],
    ['[1,2]', ErrorCode.INVALID_MESSAGE, /JSON object/],
    ['null', ErrorCode.INVALID_MESSAGE, /JSON object/],
    ['"moved"', ErrorCode.INVALID_MESSAGE, /JSON object/],
    ['{"path":"sfu"}', ErrorCode.UNKNOWN_TYPE, /unknown control message undefined/],
    ['{"t":"teleported","path":"sfu"}', ErrorCode.UNKNOWN_TYPE, /"teleported"/],
    ['{"t":"moved"}', ErrorCode.INVALID_MESSAGE, /at path/],
    ['{"t":"moved","path":"mcu"}', ErrorCode.INVALID_MESSAGE, /at path/],
    ['{"t":"moved","path":1}', ErrorCode.INVALID_MESSAGE, /at path/],
    [new ArrayBuffer(8), ErrorCode.INVALID_MESSAGE, /text/],
    [JSON.stringify({ t: 'moved', path: 'sfu', pad: 'x'.repeat(MAX_CONTROL_MESSAGE_BYTES) }), ErrorCode.MESSAGE_TOO_LARGE, /exceeds 4096 bytes/],
  ];
  for (const [data, code, reason] of cases) {
    const r = parseMeshControl(data);
    assert.equal(r.ok, false, `${String(data).slice(0, 40)} must be refused`);
    if (r.ok) continue;
    assert.equal(r.code, code, `${String(data).slice(0, 40)}: ${r.message}`);
    assert.match(r.message, reason);
  }
});

test('a control message is measured in UTF-8 bytes: multi-byte text near the limit is counted exactly', () => {
  // 1,400 three-byte characters: 4,200 bytes, over the limit although only 1,400 code units.
  const big = JSON.stringify({ t: 'moved', path: 'sfu', note: '\u20ac'.repeat(1400) });
  const r = parseMeshControl(big);
  assert.equal(r.ok ? 'ok' : r.code, ErrorCode.MESSAGE_TOO_LARGE);
  // 1,000 of them (3,000 bytes + the rest) fit; extra fields are stripped (zod's default).
  const fits = parseMeshControl(JSON.stringify({ t: 'moved', path: 'sfu', note: '\u20ac'.repeat(1000) }));
  assert.deepEqual(fits, { ok: true, message: { t: 'moved', path: 'sfu' } as MeshControlMessage });
});
