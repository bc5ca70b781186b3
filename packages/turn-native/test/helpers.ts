/** Shared set-up of the addon tests: the loaded addon, UDP sockets, and STUN/TURN messages. */
import assert from 'node:assert/strict';
import { createSocket, type Socket, type RemoteInfo } from 'node:dgram';
import { once } from 'node:events';
import { Attr, MessageBuilder, Method, encodeChannelData, writeXorAddress } from '@dari/stun';
import { FastPathEngine, loadFastPath, type DeferredDatagram, type FastPathOptions } from '../src/index.js';

/**
 * The addon, or a failed assertion naming why it is missing. Tests of the native path fail
 * without it, unless DARI_SKIP_NATIVE=1 says the machine has no toolchain on purpose.
 */
export function addon(): Exclude<ReturnType<typeof loadFastPath>, { ok: false }> | undefined {
  const load = loadFastPath();
  if (!load.ok && process.env.DARI_SKIP_NATIVE === '1') return undefined;
  assert.ok(load.ok, `the native fast path did not load: ${load.ok ? '' : load.reason}`);
  return load;
}

export function engine(options: Partial<FastPathOptions> = {}): { engine: FastPathEngine; batches: DeferredDatagram[][] } | undefined {
  const a = addon();
  if (!a) return undefined;
  const batches: DeferredDatagram[][] = [];
  const e = new FastPathEngine(a.Engine, { software: 'Dari', answerBinding: true, onBatch: (b) => batches.push(b), ...options });
  return { engine: e, batches };
}

export async function udp(address = '127.0.0.1'): Promise<Socket & { port: number }> {
  const s = createSocket(address.includes(':') ? 'udp6' : 'udp4');
  await new Promise<void>((r) => s.bind(0, address, r));
  return Object.assign(s, { port: s.address().port });
}

/** The next datagram a socket receives (times out after 2 s with a clear failure). */
export async function next(s: Socket): Promise<{ data: Buffer; from: RemoteInfo }> {
  const timer = AbortSignal.timeout(2000);
  const [data, from] = (await once(s, 'message', { signal: timer })) as [Buffer, RemoteInfo];
  return { data, from };
}

export function send(s: Socket, data: Uint8Array, port: number, address = '127.0.0.1'): Promise<void> {
  return new Promise((resolve, reject) => s.send(data, port, address, (err) => (err ? reject(err) : resolve())));
}

export const bindingRequest = (): Uint8Array => new MessageBuilder('request', Method.Binding).build();

export function sendIndication(peer: { address: string; port: number }, data: Uint8Array): Uint8Array {
  const b = new MessageBuilder('indication', Method.Send);
  b.add(Attr.XOR_PEER_ADDRESS, writeXorAddress({ family: peer.address.includes(':') ? 6 : 4, ...peer }, b.transactionId));
  b.add(Attr.DATA, data);
  return b.build();
}

export const channelData = (channel: number, data: Uint8Array): Uint8Array => encodeChannelData(channel, data);

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);
