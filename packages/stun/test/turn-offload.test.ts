/**
 * The core's `install` actions for an offloaded data plane (the native fast path): what it may
 * relay and until when, emitted before the response that lets the client use it. And peer
 * datagrams too large for a Data indication, which are ignored instead of crashing the builder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Attr, Method, MessageBuilder, PeerPolicy, TurnServer, decodeChannelData, decodeMessage, tupleKey, writeAddressFamily, writeChannelNumber,
  writeRequestedTransport, writeUint32, writeXorAddress, FAMILY_IPV6, TRANSPORT_UDP, type ClientTuple, type DataPlaneEntry, type TurnAction,
} from '../src/index.js';

const NOW = 1_000_000;
const tuple: ClientTuple = { key: tupleKey('udp', '192.0.2.10', 40000, '192.0.2.1', 3478), protocol: 'udp', address: '192.0.2.10', port: 40000, family: 4, localAddress: '192.0.2.1', localPort: 3478 };

function server(offload: boolean, maxBps = 0): TurnServer {
  return new TurnServer({ noAuth: true, offload, maxBps, relayAddresses: { v4: '192.0.2.1', v6: '2001:db8::1' }, peerPolicy: new PeerPolicy({ allowLoopback: true }), minPort: 50000, maxPort: 50009 });
}

function request(method: number, attrs: [number, (tid: Uint8Array) => Uint8Array][]): Uint8Array {
  const b = new MessageBuilder('request', method);
  for (const [type, value] of attrs) b.add(type, value(b.transactionId));
  return b.build();
}

const installs = (actions: TurnAction[]): DataPlaneEntry[] => actions.flatMap((a) => (a.kind === 'install' ? [a.entry] : []));
const kinds = (actions: TurnAction[]): string[] => actions.map((a) => a.kind);

function allocate(s: TurnServer, family: 4 | 6 = 4): { id: number; actions: TurnAction[] } {
  const attrs: [number, (tid: Uint8Array) => Uint8Array][] = [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(TRANSPORT_UDP)]];
  if (family === 6) attrs.push([Attr.REQUESTED_ADDRESS_FAMILY, () => writeAddressFamily(FAMILY_IPV6)]);
  const bind = s.handleClient(tuple, request(Method.Allocate, attrs), NOW).find((a) => a.kind === 'bind-relay');
  assert.ok(bind?.kind === 'bind-relay');
  assert.deepEqual(bind.client, tuple, 'bind-relay names the client 5-tuple');
  return { id: bind.allocation, actions: s.relayBound(bind.allocation, { ok: true }, NOW) };
}

test('with offload, the core installs allocations, permissions and channels before answering, and refreshes them', () => {
  const s = server(true, 5000);
  const { id, actions } = allocate(s);
  assert.deepEqual(kinds(actions), ['install', 'send', 'event']);
  assert.deepEqual(installs(actions), [{ type: 'allocation', allocation: id, tuple, family: 4, expiresAt: NOW + 600_000, maxBps: 5000 }]);

  const permit = s.handleClient(tuple, request(Method.CreatePermission, [
    [Attr.XOR_PEER_ADDRESS, (tid) => writeXorAddress({ family: 4, address: '198.51.100.7', port: 0 }, tid)],
    [Attr.XOR_PEER_ADDRESS, (tid) => writeXorAddress({ family: 4, address: '198.51.100.8', port: 0 }, tid)],
  ]), NOW + 1000);
  assert.deepEqual(kinds(permit), ['install', 'install', 'send']);
  assert.deepEqual(installs(permit), [
    { type: 'permission', allocation: id, peerAddress: '198.51.100.7', expiresAt: NOW + 1000 + 300_000 },
    { type: 'permission', allocation: id, peerAddress: '198.51.100.8', expiresAt: NOW + 1000 + 300_000 },
  ]);

  const bind = s.handleClient(tuple, request(Method.ChannelBind, [
    [Attr.CHANNEL_NUMBER, () => writeChannelNumber(0x4001)],
    [Attr.XOR_PEER_ADDRESS, (tid) => writeXorAddress({ family: 4, address: '198.51.100.9', port: 5000 }, tid)],
  ]), NOW + 2000);
  assert.deepEqual(installs(bind), [
    { type: 'permission', allocation: id, peerAddress: '198.51.100.9', expiresAt: NOW + 2000 + 300_000 },
    { type: 'channel', allocation: id, channel: 0x4001, peer: { address: '198.51.100.9', port: 5000 }, expiresAt: NOW + 2000 + 600_000 },
  ]);

  const refresh = s.handleClient(tuple, request(Method.Refresh, [[Attr.LIFETIME, () => writeUint32(1200)]]), NOW + 3000);
  assert.deepEqual(installs(refresh), [{ type: 'allocation', allocation: id, tuple, family: 4, expiresAt: NOW + 3000 + 1_200_000, maxBps: 5000 }]);

  const gone = s.handleClient(tuple, request(Method.Refresh, [[Attr.LIFETIME, () => writeUint32(0)]]), NOW + 4000);
  assert.deepEqual(kinds(gone), ['send', 'close-relay', 'event'], 'a deleted allocation is closed, not installed');
});

test('without offload, no install actions', () => {
  const s = server(false);
  const { actions } = allocate(s);
  assert.deepEqual(kinds(actions), ['send', 'event']);
  const permit = s.handleClient(tuple, request(Method.CreatePermission, [[Attr.XOR_PEER_ADDRESS, (tid) => writeXorAddress({ family: 4, address: '198.51.100.7', port: 0 }, tid)]]), NOW);
  assert.deepEqual(kinds(permit), ['send']);
});

test('a peer datagram too large for a Data indication is ignored as too-large; over a channel it is relayed', () => {
  const s = server(false);
  const { id } = allocate(s, 6);
  const peer = { address: '2001:db8::7', port: 5000 };
  s.handleClient(tuple, request(Method.CreatePermission, [[Attr.XOR_PEER_ADDRESS, (tid) => writeXorAddress({ family: 6, address: peer.address, port: 0 }, tid)]]), NOW);
  const big = new Uint8Array(65527); // the largest UDP payload over IPv6
  assert.deepEqual(s.handlePeer(id, peer, big, NOW), [{ kind: 'ignore', reason: 'too-large' }]);
  assert.equal(s.counters.ignored['too-large'], 1);
  // 65,504 bytes still fit: 24 + 4 + 65,504 ≤ 65,535 (65,505 pads to 65,508: one byte too many).
  assert.deepEqual(s.handlePeer(id, peer, new Uint8Array(65505), NOW), [{ kind: 'ignore', reason: 'too-large' }]);
  const fits = s.handlePeer(id, peer, new Uint8Array(65504), NOW)[0];
  assert.ok(fits?.kind === 'send' && decodeMessage(fits.data).ok);

  s.handleClient(tuple, request(Method.ChannelBind, [
    [Attr.CHANNEL_NUMBER, () => writeChannelNumber(0x4000)],
    [Attr.XOR_PEER_ADDRESS, (tid) => writeXorAddress({ family: 6, ...peer }, tid)],
  ]), NOW);
  const viaChannel = s.handlePeer(id, peer, big, NOW)[0];
  assert.ok(viaChannel?.kind === 'send');
  const cd = decodeChannelData(viaChannel.data);
  assert.ok(cd.ok && cd.value.channel === 0x4000 && cd.value.data.length === big.length);
});
