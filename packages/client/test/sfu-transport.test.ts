/**
 * The SFU transport with stand-in peer connections: which leg offers, what each carries, and
 * the transport state derived from both legs (LiveKit's PCTransportManager shape).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClientMessageInput } from '@dari/protocol';
import { SfuTransport, sfuTransportState } from '../src/sfu-transport.js';
import { FakePeerConnection, fakeTrack, settle } from './fake-peer-connection.js';

const stream = { id: 'stream' } as MediaStream;
const camera = { sid: 'TR_cam', track: fakeTrack('video', { width: 960, height: 540 }), stream, source: 'camera' };
const mic = { sid: 'TR_mic', track: fakeTrack('audio'), stream, source: 'microphone' };

function transport(simulcast: boolean) {
  const pcs: FakePeerConnection[] = [];
  const sent: ClientMessageInput[] = [];
  const legStates: string[] = [];
  const t = new SfuTransport({
    configuration: {},
    localTracks: () => [camera, mic],
    simulcast,
    send: (m) => (sent.push(m), true),
    onTrack: () => undefined,
    onLegState: (leg, state) => legStates.push(`${leg}:${state}`),
    onError: (e) => assert.fail(e),
    createPeerConnection: (c) => {
      const pc = new FakePeerConnection(c);
      pcs.push(pc);
      return pc as unknown as RTCPeerConnection;
    },
  });
  return { t, publisher: pcs[0]!, subscriber: pcs[1]!, sent, legStates };
}

test('the publisher leg sends our tracks at once (camera in simulcast layers) with a control channel; the subscriber leg sends nothing and has none', () => {
  const { publisher, subscriber } = transport(true);
  assert.deepEqual(publisher.added.map((a) => `${a.how}:${a.track.kind}`), ['transceiver:video', 'track:audio']);
  assert.deepEqual(publisher.added[0]!.init?.sendEncodings?.map((e) => e.rid), ['q', 'h', 'f'], '540p: three layers');
  assert.equal(publisher.channels.length, 1);
  assert.equal(subscriber.added.length, 0);
  assert.equal(subscriber.channels.length, 0);
  const plain = transport(false);
  assert.deepEqual(plain.publisher.added.map((a) => a.how), ['track', 'track'], 'simulcast: false sends one encoding');
});

test('descriptions go out as sfu-sdp for their leg: we offer on the publisher leg, answer on the subscriber leg', async () => {
  const { t, publisher, sent } = transport(true);
  publisher.onnegotiationneeded?.();
  await t.leg('subscriber').handleDescription({ type: 'offer', sdp: 'v=0' });
  await settle();
  assert.deepEqual(
    sent.map((m) => (m.type === 'sfu-sdp' ? `${m.pc}:${m.description.type}` : m.type)),
    ['publisher:offer', 'subscriber:answer'],
  );
});

test('handleMessage: sfu-sdp and sfu-candidate reach the leg they name; publisher-layers sets the active layers of our track with that stream id', async () => {
  const { t, publisher, subscriber, sent } = transport(true);
  t.handleMessage({ type: 'sfu-sdp', pc: 'subscriber', description: { type: 'offer', sdp: 'v=0' } });
  await settle();
  assert.deepEqual(subscriber.remoteDescriptions.map((d) => d.type), ['offer']);
  assert.equal(publisher.remoteDescriptions.length, 0);
  assert.deepEqual(sent.map((m) => (m.type === 'sfu-sdp' ? `${m.pc}:${m.description.type}` : m.type)), ['subscriber:answer']);
  t.handleMessage({ type: 'publisher-layers', streamId: 'stream', rids: ['q', 'h'] });
  await settle();
  const active = () => publisher.added[0]!.sender.parameters.encodings.map((e) => `${e.rid}:${e.active}`);
  assert.deepEqual(active(), ['q:true', 'h:true', 'f:false']);
  t.handleMessage({ type: 'publisher-layers', streamId: 'someone-else', rids: ['q'] });
  await settle();
  assert.deepEqual(active(), ['q:true', 'h:true', 'f:false'], 'another stream id changes nothing');
});

test('the transport state is the worse of the two legs, and a closed transport reports nothing more', () => {
  const { t, publisher, subscriber, legStates } = transport(true);
  assert.equal(t.state, 'new');
  publisher.setConnectionState('connecting');
  assert.equal(t.state, 'connecting');
  publisher.setConnectionState('connected');
  assert.equal(t.state, 'connecting', 'the subscriber leg is still new');
  subscriber.setConnectionState('connected');
  assert.equal(t.state, 'connected');
  subscriber.setConnectionState('disconnected');
  assert.equal(t.state, 'disconnected');
  publisher.setConnectionState('failed');
  assert.equal(t.state, 'failed');
  t.close();
  assert.equal(t.state, 'closed');
  assert.equal(publisher.closed && subscriber.closed, true);
  subscriber.setConnectionState('failed');
  assert.deepEqual(legStates, ['publisher:connecting', 'publisher:connected', 'subscriber:connected', 'subscriber:disconnected', 'publisher:failed']);
});

test('sfuTransportState: failed and closed win, connected needs both legs', () => {
  assert.equal(sfuTransportState('connected', 'failed'), 'failed');
  assert.equal(sfuTransportState('closed', 'connected'), 'closed');
  assert.equal(sfuTransportState('connected', 'connected'), 'connected');
  assert.equal(sfuTransportState('new', 'new'), 'new');
  assert.equal(sfuTransportState('new', 'connecting'), 'connecting');
  assert.equal(sfuTransportState('disconnected', 'connecting'), 'disconnected');
});
