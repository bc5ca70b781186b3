/**
 * The differential harness: the same bytes, state and clock through @dari/stun's TurnServer (the
 * TypeScript path) and through the addon's verdicts (processClient / processPeer), and a check
 * that they agree. The addon's state comes from the core's own `install` actions, as in the
 * server, so the harness also checks that mirroring.
 */
import assert from 'node:assert/strict';
import {
  Attr, Method, MessageBuilder, PeerPolicy, TurnServer, addressBytes, decodeMessage, getAttribute, readXorAddress, tupleKey, writeAddressFamily,
  writeChannelNumber, writeRequestedTransport, writeXorAddress, FAMILY_IPV6, TRANSPORT_UDP, type ClientTuple, type TurnAction,
} from '@dari/stun';
import type { FastPathEngine, FastPathVerdict } from '../src/index.js';

/** A client of the harness: its 5-tuple and the addon listener it maps to. */
export interface HarnessClient {
  tuple: ClientTuple;
  listener: number;
}

const udpTuple = (address: string, port: number, local: string): ClientTuple => ({
  key: tupleKey('udp', address, port, local, 3478), protocol: 'udp', address, port, family: address.includes(':') ? 6 : 4, localAddress: local, localPort: 3478,
});

export const T0 = 1_800_000_000_000;

/** Times to judge inputs at: all live; permissions expired (300 s); channels expired (600 s); allocations expired. */
export const TIMES = [T0 + 1000, T0 + 301_000, T0 + 601_000, T0 + 3_700_000];

export const PEERS = {
  v4: { address: '127.0.0.1', port: 5000 },
  v4other: { address: '127.0.0.2', port: 5001 },
  v4unpermitted: { address: '127.0.0.3', port: 5002 },
  v6: { address: '::1', port: 5003 },
} as const;

export class Harness {
  readonly core = new TurnServer({
    noAuth: true,
    offload: true,
    software: 'Dari',
    relayAddresses: { v4: '127.0.0.1', v6: '::1' },
    peerPolicy: new PeerPolicy({ allowLoopback: true }),
    minPort: 40000,
    maxPort: 40999,
    maxLifetimeS: 3600,
  });
  readonly clients: HarnessClient[] = [
    { tuple: udpTuple('127.0.0.1', 50000, '127.0.0.1'), listener: 0 }, // v4 allocation, channels 0x4000 and 0x4001
    { tuple: udpTuple('::1', 50001, '::1'), listener: 1 }, // v6 allocation, channel 0x4002
    { tuple: udpTuple('127.0.0.1', 50002, '127.0.0.1'), listener: 0 }, // no allocation
  ];
  readonly allocations: number[] = [];
  /** How many inputs ended in each addon verdict (a degenerate generator shows here). */
  readonly verdicts: Record<FastPathVerdict['verdict'], number> = { relay: 0, reply: 0, drop: 0, defer: 0 };

  constructor(readonly engine: FastPathEngine) {
    const [a, b] = this.clients as [HarnessClient, HarnessClient];
    this.allocations.push(this.allocate(a, 4), this.allocate(b, 6));
    this.request(a, Method.CreatePermission, [[Attr.XOR_PEER_ADDRESS, (tid) => writeXorAddress({ family: 4, ...PEERS.v4other }, tid)]]);
    this.channelBind(a, 0x4000, PEERS.v4);
    this.channelBind(a, 0x4001, PEERS.v4other);
    this.channelBind(b, 0x4002, PEERS.v6);
  }

  private allocate(c: HarnessClient, family: 4 | 6): number {
    const attrs: [number, (tid: Uint8Array) => Uint8Array][] = [[Attr.REQUESTED_TRANSPORT, () => writeRequestedTransport(TRANSPORT_UDP)]];
    if (family === 6) attrs.push([Attr.REQUESTED_ADDRESS_FAMILY, () => writeAddressFamily(FAMILY_IPV6)]);
    const actions = this.request(c, Method.Allocate, attrs);
    const bind = actions.find((x) => x.kind === 'bind-relay');
    assert.ok(bind?.kind === 'bind-relay');
    return bind.allocation;
  }

  private channelBind(c: HarnessClient, channel: number, peer: { address: string; port: number }): void {
    this.request(c, Method.ChannelBind, [
      [Attr.CHANNEL_NUMBER, () => writeChannelNumber(channel)],
      [Attr.XOR_PEER_ADDRESS, (tid) => writeXorAddress({ family: peer.address.includes(':') ? 6 : 4, ...peer }, tid)],
    ]);
  }

  private request(c: HarnessClient, method: number, attrs: [number, (tid: Uint8Array) => Uint8Array][]): TurnAction[] {
    const b = new MessageBuilder('request', method);
    for (const [type, value] of attrs) b.add(type, value(b.transactionId));
    const out = this.core.handleClient(c.tuple, b.build(), T0);
    this.mirror(out, T0);
    return out;
  }

  /** Carries the core's data-plane actions into the addon, as the server's native adapter does. */
  mirror(actions: TurnAction[], now: number): void {
    for (const a of actions) {
      if (a.kind === 'bind-relay') {
        // No socket in the harness: the allocation's relay is "bound" at once.
        this.mirror(this.core.relayBound(a.allocation, { ok: true }, now), now);
      } else if (a.kind === 'close-relay') {
        this.engine.closeRelay(a.allocation);
      } else if (a.kind === 'install') {
        const e = a.entry;
        const listener = this.clients.find((c) => c.tuple.key === (e.type === 'allocation' ? e.tuple.key : ''))?.listener ?? 0;
        if (e.type === 'allocation') this.engine.allocation(e.allocation, listener, e.tuple.address, e.tuple.port, e.family, e.expiresAt, e.maxBps);
        else if (e.type === 'permission') this.engine.permission(e.allocation, e.peerAddress, e.expiresAt);
        else this.engine.channel(e.allocation, e.channel, e.peer.address, e.peer.port, e.expiresAt);
      }
    }
  }

  /** One client datagram through both paths; throws when they disagree. */
  client(c: HarnessClient, bytes: Uint8Array, now: number): void {
    const native = this.engine.processClient(c.listener, c.tuple.family, c.tuple.address, c.tuple.port, bytes, now);
    const core = this.core.handleClient(c.tuple, bytes, now);
    this.mirror(core, now);
    this.verdicts[native.verdict]++;
    const ctx = () => `${Buffer.from(bytes).toString('hex')} from ${c.tuple.key} at T0+${now - T0}: addon ${JSON.stringify(native)} core ${JSON.stringify(core.map((a) => a.kind === 'ignore' ? a.reason : a.kind))}`;
    if (native.verdict === 'defer') return;
    if (native.verdict === 'drop') return assert.deepEqual(core, [{ kind: 'ignore', reason: native.reason }], ctx());
    assert.equal(core.length, 1, ctx());
    const [out] = core as [TurnAction];
    if (native.verdict === 'relay') {
      assert.ok(out.kind === 'relay', ctx());
      assert.equal(out.allocation, native.allocation, ctx());
      assert.deepEqual([...addressBytes(out.peer.address)!], [...addressBytes(native.peerAddress)!], ctx());
      assert.equal(out.peer.port, native.peerPort, ctx());
      assert.deepEqual(Buffer.from(out.data), native.data, ctx());
    } else {
      assert.ok(out.kind === 'send' && out.to === c.tuple && out.from === undefined && out.toPort === undefined, ctx());
      assert.deepEqual(Buffer.from(out.data), native.data, ctx());
    }
  }

  /** One peer datagram at an allocation's relay through both paths; throws when they disagree. */
  peer(allocation: number, peer: { address: string; port: number }, bytes: Uint8Array, now: number): void {
    const native = this.engine.processPeer(allocation, peer.address, peer.port, bytes, now);
    const core = this.core.handlePeer(allocation, peer, bytes, now);
    this.verdicts[native.verdict]++;
    const ctx = () => `${bytes.length} bytes from ${peer.address}:${peer.port} to allocation ${allocation} at T0+${now - T0}: addon ${native.verdict} core ${JSON.stringify(core.map((a) => a.kind === 'ignore' ? a.reason : a.kind))}`;
    assert.notEqual(native.verdict, 'defer', 'peer datagrams are never deferred');
    if (native.verdict === 'drop') return assert.deepEqual(core, [{ kind: 'ignore', reason: native.reason }], ctx());
    assert.ok(native.verdict === 'reply', ctx());
    const [out] = core as [TurnAction];
    assert.ok(core.length === 1 && out.kind === 'send', ctx());
    assert.deepEqual(Buffer.from(sameTransactionId(out.data, native.data)), native.data, ctx());
  }
}

/**
 * A Data indication carries a random transaction id (and XOR-PEER-ADDRESS is masked with it):
 * rebuild the core's with the addon's id so the bytes compare. ChannelData is returned as is.
 */
function sameTransactionId(core: Uint8Array, native: Buffer): Uint8Array {
  const m = decodeMessage(core);
  if (!m.ok) return core;
  const peer = readXorAddress(getAttribute(m.value, Attr.XOR_PEER_ADDRESS)!.value, m.value.transactionId);
  assert.ok(peer.ok);
  const b = new MessageBuilder('indication', Method.Data, new Uint8Array(native.subarray(8, 20)));
  b.add(Attr.XOR_PEER_ADDRESS, writeXorAddress(peer.value, b.transactionId));
  b.add(Attr.DATA, getAttribute(m.value, Attr.DATA)!.value);
  return b.build();
}
