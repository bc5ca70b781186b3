/**
 * PeerLink's options and the mesh transport's control messages, under Node with a stand-in
 * RTCPeerConnection (test/fake-peer-connection.ts): what each option does to the connection,
 * and that bad input (a malformed control message, a failing negotiation) becomes a typed error
 * event instead of an exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientError, ClientErrorCode } from '../src/errors.js';
import { MeshTransport, type MeshEvents } from '../src/mesh-transport.js';
import { PeerLink, type LocalTrackHandle, type PeerCallbacks, type PeerLinkOptions } from '../src/peer.js';
import { simulcastEncodings } from '../src/sfu-transport.js';
import { FakePeerConnection, fakeTrack, settle } from './fake-peer-connection.js';

const stream = { id: 'stream' } as MediaStream;
const camera: LocalTrackHandle = { sid: 'TR_cam', track: fakeTrack('video', { width: 1280, height: 720 }), stream, source: 'camera' };
const mic: LocalTrackHandle = { sid: 'TR_mic', track: fakeTrack('audio'), stream, source: 'microphone' };

function link(options: Partial<PeerLinkOptions> = {}): { link: PeerLink; pc: FakePeerConnection; errors: ClientError[]; sent: string[]; control: unknown[] } {
  let pc: FakePeerConnection | undefined;
  const errors: ClientError[] = [];
  const sent: string[] = [];
  const control: unknown[] = [];
  const callbacks: PeerCallbacks = {
    sendDescription: (d) => sent.push(d.type),
    sendCandidate: () => undefined,
    onTrack: () => undefined,
    onDataChannel: () => undefined,
    onConnectionState: () => undefined,
    onControl: (data) => control.push(data),
    onError: (e) => errors.push(e),
  };
  const l = new PeerLink({
    remote: 'bob',
    polite: true,
    configuration: {},
    localTracks: () => [camera, mic],
    callbacks,
    createPeerConnection: (c) => (pc = new FakePeerConnection(c)) as unknown as RTCPeerConnection,
    ...options,
  });
  return { link: l, pc: pc!, errors, sent, control };
}

test('PeerLink defaults: answerer (tracks wait for the remote offer), control channel, media on', async () => {
  const { link: l, pc, sent } = link();
  assert.equal(pc.channels.length, 1);
  assert.deepEqual([pc.channels[0]!.label, pc.channels[0]!.init], ['dari', { negotiated: true, id: 0 }]);
  assert.equal(l.media, true);
  assert.equal(pc.added.length, 0, 'an answerer attaches its tracks to the offered transceivers');
  await l.handleDescription({ type: 'offer', sdp: 'v=0' });
  assert.deepEqual(pc.added.map((a) => a.how), ['track', 'track']);
  assert.deepEqual(sent, ['answer']);
});

test('PeerLink initiator: tracks attached at once; cameraEncodings only for the camera', () => {
  const { pc } = link({ initiator: true, cameraEncodings: (t) => simulcastEncodings(t.getSettings().width ?? 0, t.getSettings().height ?? 0) });
  const [cam, audio] = pc.added;
  assert.equal(cam?.how, 'transceiver');
  assert.deepEqual(cam?.init?.sendEncodings?.map((e) => e.rid), ['q', 'h', 'f']);
  assert.equal(cam?.init?.direction, 'sendonly');
  assert.equal(audio?.how, 'track', 'the microphone is one encoding');
});

test('PeerLink controlChannel: false opens none, and sendControl says nothing was sent', () => {
  const { link: l, pc } = link({ controlChannel: false });
  assert.equal(pc.channels.length, 0);
  assert.equal(l.hasControlChannel, false);
  assert.equal(l.sendControl('{"t":"moved","path":"sfu"}'), false);
});

test('PeerLink media: false is a data-only link until enableMedia()', async () => {
  const { link: l, pc } = link({ initiator: true, media: false });
  assert.equal(pc.added.length, 0);
  await l.handleDescription({ type: 'offer', sdp: 'v=0' });
  assert.equal(pc.added.length, 0, 'not even when answering');
  l.addTrack({ ...mic, sid: 'TR_new' });
  assert.equal(pc.added.length, 0);
  l.enableMedia();
  assert.equal(l.media, true);
  assert.equal(pc.added.length, 2);
});

test('PeerLink control messages wait for the channel to open, and received data goes to onControl as is', () => {
  const { link: l, pc, control } = link();
  const channel = pc.channels[0]!;
  assert.equal(l.sendControl('one'), true);
  assert.equal(l.sendControl('two'), true);
  assert.deepEqual(channel.sent, []);
  channel.open();
  l.sendControl('three');
  assert.deepEqual(channel.sent, ['one', 'two', 'three']);
  channel.deliver('not json at all');
  assert.deepEqual(control, ['not json at all']);
});

test('PeerLink: a failing remote description becomes NEGOTIATION_FAILED, and the next one is still handled', async () => {
  const { link: l, pc, errors, sent } = link();
  pc.failNextRemoteDescription = new Error('Failed to parse SessionDescription');
  await l.handleDescription({ type: 'offer', sdp: 'garbage' });
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.code, ClientErrorCode.NEGOTIATION_FAILED);
  assert.match(errors[0]!.message, /bob: Failed to parse SessionDescription/);
  assert.equal((errors[0]!.cause as Error).message, 'Failed to parse SessionDescription');
  await l.handleDescription({ type: 'offer', sdp: 'v=0' });
  assert.deepEqual(sent, ['answer']);
  // A link closed while its description was being applied fails as expected: not reported.
  pc.onSetRemoteDescription = () => l.close();
  pc.failNextRemoteDescription = new Error('InvalidStateError: closed');
  await l.handleDescription({ type: 'offer', sdp: 'v=0' });
  assert.equal(errors.length, 1);
});

test('PeerLink setActiveEncodings: rids toggle RTCRtpEncodingParameters.active; a setParameters failure is MEDIA_UPDATE_FAILED', async () => {
  const { link: l, pc, errors } = link({ initiator: true, cameraEncodings: () => simulcastEncodings(1280, 720) });
  const sender = pc.added[0]!.sender;
  l.setActiveEncodings('TR_cam', ['q']);
  await settle();
  assert.deepEqual(sender.parameters.encodings.map((e) => `${e.rid}:${e.active}`), ['q:true', 'h:false', 'f:false']);
  sender.failSetParameters = new Error('InvalidModificationError');
  l.setActiveEncodings('TR_cam', ['q', 'h', 'f']);
  await settle();
  assert.equal(errors[0]?.code, ClientErrorCode.MEDIA_UPDATE_FAILED);
  assert.deepEqual(errors[0]?.details, { peer: 'bob', track: 'TR_cam' });
});

function mesh(localSid: string): { mesh: MeshTransport; pcs: FakePeerConnection[]; moved: string[]; errors: ClientError[]; links: string[] } {
  const pcs: FakePeerConnection[] = [];
  const moved: string[] = [];
  const errors: ClientError[] = [];
  const links: string[] = [];
  const events: MeshEvents = {
    track: () => undefined,
    link: (identity, l) => links.push(`${identity}:${l.media ? 'media' : 'data'}:${l.state}`),
    connectionState: () => undefined,
    moved: (identity, path) => moved.push(`${identity}:${path}`),
    fileProgress: () => undefined,
    fileReceived: () => undefined,
    fileFailed: () => undefined,
    error: (e) => errors.push(e),
  };
  const m = new MeshTransport({
    localSid: () => localSid,
    configuration: () => ({}),
    localTracks: () => [mic],
    send: () => true,
    events,
    createPeerConnection: (c) => {
      const pc = new FakePeerConnection(c);
      pcs.push(pc);
      return pc as unknown as RTCPeerConnection;
    },
  });
  return { mesh: m, pcs, moved, errors, links };
}

test('mesh control messages are parsed on receipt: moved reaches the switch, malformed ones are ignored with their reason', () => {
  const { mesh: m, pcs, moved, errors } = mesh('PA_a');
  m.open('bob', 'PA_b', { initiator: true, media: true });
  const channel = pcs[0]!.channels[0]!;
  channel.deliver('{"t":"moved","path":"sfu"}');
  assert.deepEqual(moved, ['bob:sfu']);
  for (const bad of ['{"t":"moved","path":"mcu"}', '{"t":"hello"}', '{oops', new ArrayBuffer(4), `{"t":"moved","path":"p2p","x":"${'y'.repeat(5000)}"}`]) {
    assert.doesNotThrow(() => channel.deliver(bad));
  }
  assert.deepEqual(moved, ['bob:sfu'], 'nothing malformed got through');
  assert.deepEqual(errors.map((e) => [e.code, e.details['from'], e.details['reason']]), [
    ['INVALID_CONTROL_MESSAGE', 'bob', 'INVALID_MESSAGE'],
    ['INVALID_CONTROL_MESSAGE', 'bob', 'UNKNOWN_TYPE'],
    ['INVALID_CONTROL_MESSAGE', 'bob', 'BAD_JSON'],
    ['INVALID_CONTROL_MESSAGE', 'bob', 'INVALID_MESSAGE'],
    ['INVALID_CONTROL_MESSAGE', 'bob', 'MESSAGE_TOO_LARGE'],
  ]);
  // sendMoved speaks the same schema on the wire.
  channel.open();
  m.sendMoved('bob', 'p2p');
  assert.deepEqual(channel.sent, ['{"t":"moved","path":"p2p"}']);
});

test('mesh openMedia: an existing data-only link gets media; without a link the larger sid offers and the smaller waits', () => {
  const a = mesh('PA_a');
  a.mesh.open('bob', 'PA_b', { initiator: true, media: false });
  a.mesh.openMedia('bob', 'PA_b');
  assert.equal(a.mesh.get('bob')?.media, true);
  assert.deepEqual(a.links, ['bob:data:new', 'bob:media:new']);
  a.mesh.openMedia('carol', 'PA_c');
  assert.equal(a.mesh.get('carol'), undefined, 'PA_a < PA_c: carol offers');
  const z = mesh('PA_z');
  z.mesh.openMedia('carol', 'PA_c');
  assert.equal(z.mesh.get('carol')?.media, true, 'PA_z > PA_c: we offer');
  assert.equal(z.pcs[0]!.added.length, 1, 'our tracks go in at once');
});

test('mesh links report connection states only while they are the current link', () => {
  const { mesh: m, pcs, links } = mesh('PA_a');
  m.open('bob', 'PA_b', { initiator: false, media: true });
  pcs[0]!.setConnectionState('connected');
  m.close('bob');
  pcs[0]!.setConnectionState('failed');
  assert.deepEqual(links, ['bob:media:new', 'bob:media:connected']);
  assert.equal(pcs[0]!.closed, true);
});

test('PeerLink: an exception in handling a connection event becomes an INTERNAL error, not an uncaught one', () => {
  const { link: l, pc, errors } = link({
    callbacks: {
      sendDescription: () => undefined,
      sendCandidate: () => undefined,
      onTrack: () => {
        throw new Error('no such publication');
      },
      onDataChannel: () => undefined,
      onConnectionState: () => undefined,
      onError: (e) => errors.push(e),
    },
  });
  assert.doesNotThrow(() => pc.ontrack?.({} as RTCTrackEvent));
  assert.equal(errors[0]?.code, ClientErrorCode.INTERNAL);
  assert.match(errors[0]!.message, /handling track from bob failed: no such publication/);
  l.close();
});
