/** RFC 5780 classification as a pure function: every branch of §4.3/§4.4 and the WebRTC verdicts. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classify, nextStep, type Observations } from '../src/nat-check/classify.js';

const local = { address: '10.0.0.2', port: 5000 };
const m1 = { address: '203.0.113.101', port: 6000 };
const other = { address: '203.0.113.11', port: 3479 };

test('the procedure asks for tests in RFC 5780 order and stops early where it can', () => {
  assert.equal(nextStep({ local }), 'test1');
  assert.equal(nextStep({ local, test1: null }), 'tcp');
  assert.equal(nextStep({ local, test1: null, tcp: true }), null);
  assert.equal(nextStep({ local, test1: null, tcp: false }), 'tls', 'TCP blocked too: STUN over TLS on 443');
  assert.equal(nextStep({ local, test1: null, tcp: false, tls: false, tlsPort: 443 }), null);
  assert.equal(nextStep({ local, test1: { mapped: m1, other } }), 'mapping2');
  assert.equal(nextStep({ local, test1: { mapped: m1, other }, mapping2: { mapped: m1 } }), 'filtering2', 'same mapping: no test III');
  assert.equal(nextStep({ local, test1: { mapped: m1, other }, mapping2: { mapped: { ...m1, port: 7 } } }), 'mapping3');
  assert.equal(nextStep({ local, test1: { mapped: m1, other }, mapping2: { mapped: m1 }, filtering2: true }), 'hairpin');
  assert.equal(nextStep({ local, test1: { mapped: m1, other }, mapping2: { mapped: m1 }, filtering2: false }), 'filtering3');
  assert.equal(nextStep({ local, test1: { mapped: local, other } }), 'filtering2', 'no NAT: no mapping tests');
  assert.equal(nextStep({ local, test1: { mapped: m1, other: null } }), 'hairpin', 'no OTHER-ADDRESS: nothing measurable but hairpin');
});

test('port-restricted cone: EIM + APDF → direct calls likely', () => {
  const o: Observations = { local, test1: { mapped: m1, other }, mapping2: { mapped: m1 }, filtering2: false, filtering3: false, hairpin: false };
  const r = classify(o);
  assert.equal(r.mapping, 'endpoint-independent');
  assert.equal(r.filtering, 'address-and-port-dependent');
  assert.equal(r.outlook, 'direct-likely');
  assert.match(r.verdict, /direct calls likely/);
});

test('symmetric: address-and-port-dependent or address-dependent mapping → will need TURN', () => {
  const apdm = classify({ local, test1: { mapped: m1, other }, mapping2: { mapped: { ...m1, port: 6001 } }, mapping3: { mapped: { ...m1, port: 6002 } }, filtering2: false, filtering3: false });
  assert.equal(apdm.mapping, 'address-and-port-dependent');
  assert.equal(apdm.outlook, 'turn-needed');
  assert.match(apdm.verdict, /will need TURN/);
  const adm = classify({ local, test1: { mapped: m1, other }, mapping2: { mapped: { ...m1, port: 6001 } }, mapping3: { mapped: { ...m1, port: 6001 } }, filtering2: false, filtering3: true });
  assert.equal(adm.mapping, 'address-dependent');
  assert.equal(adm.filtering, 'address-dependent');
});

test('no NAT, full cone, UDP blocked, unreachable', () => {
  assert.equal(classify({ local, test1: { mapped: local, other }, filtering2: true }).publicAddress, true);
  const full = classify({ local, test1: { mapped: m1, other }, mapping2: { mapped: m1 }, filtering2: true, hairpin: true });
  assert.equal(full.filtering, 'endpoint-independent');
  assert.equal(full.hairpinning, true);
  assert.match(full.verdict, /Full-cone/);
  const blocked = classify({ local, test1: null, tcp: true });
  assert.equal(blocked.outlook, 'turn-tcp-needed');
  assert.equal(blocked.verdict, 'UDP blocked: TURN over TCP/TLS required.');
  assert.equal(classify({ local, test1: null, tcp: false }).outlook, 'unreachable');
  const unknown = classify({ local, test1: { mapped: m1, other: null }, hairpin: false });
  assert.equal(unknown.mapping, null);
  assert.match(unknown.verdict, /could not be measured/);
});

test('only TCP 443 open: TURN over TLS on 443 needed, or the server must offer it there', () => {
  const tls = classify({ local, test1: null, tcp: false, tls: 'stun', tlsPort: 443 });
  assert.equal(tls.outlook, 'turn-tls-needed');
  assert.equal(tls.tls, 'stun');
  assert.match(tls.verdict, /Only TCP to port 443 gets out.*TURN over TLS on port 443/);
  const https = classify({ local, test1: null, tcp: false, tls: 'tls-only', tlsPort: 443 });
  assert.equal(https.outlook, 'unreachable');
  assert.match(https.verdict, /set turn\.tlsPort to 443/);
  const none = classify({ local, test1: null, tcp: false, tls: false, tlsPort: 443 });
  assert.equal(none.outlook, 'unreachable');
  assert.match(none.verdict, /unreachable over UDP, TCP and TLS/);
});
