/**
 * The make-before-break switch on its own: no browser, no timers; time is a number the test
 * moves. Each scenario is one participant's view ("we") of a remote, bob (and carol).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { READY_TIMEOUT_MS, SWITCH_TIMEOUT_MS, TopologySwitch, type PublicationRef, type SwitchAction } from '../src/topology-switch.js';

const bobPubs: PublicationRef[] = [
  { sid: 'TR_bcam', streamId: 'bob-cam', kind: 'video' },
  { sid: 'TR_bmic', streamId: 'bob-mic', kind: 'audio' },
];
const carolPubs: PublicationRef[] = [{ sid: 'TR_ccam', streamId: 'carol-cam', kind: 'video' }];

/** The actions without timers, as compact strings. */
function show(actions: SwitchAction[]): string[] {
  return actions.flatMap((a) => {
    switch (a.type) {
      case 'set-timer':
        return [];
      case 'use-track':
        return [`use ${a.identity}/${a.trackSid}=${a.trackId} ${a.path} (${a.reason})`];
      case 'watch-decoding':
        return [`watch ${a.trackId}`];
      case 'send-moved':
        return [`moved→${a.identity} ${a.path}`];
      case 'open-mesh-media':
      case 'close-mesh-link':
        return [`${a.type} ${a.identity}`];
      default:
        return [a.type];
    }
  });
}

const timers = (actions: SwitchAction[]) => actions.flatMap((a) => (a.type === 'set-timer' ? [a.at] : []));

/** We and bob talk P2P: his camera p1 and microphone p2 arrived over the mesh link, which is connected. */
function p2pCallWithBob(): TopologySwitch {
  const sw = new TopologySwitch();
  assert.deepEqual(show(sw.start('p2p')), []);
  sw.participant('bob', bobPubs, 0);
  sw.meshLink('bob', { media: true, state: 'connecting' });
  assert.deepEqual(show(sw.trackArrived({ id: 'p1', path: 'p2p', streamId: 'bob-cam', kind: 'video', from: 'bob' }, 10)), ['use bob/TR_bcam=p1 p2p (new)']);
  assert.deepEqual(show(sw.trackArrived({ id: 'p2', path: 'p2p', streamId: 'bob-mic', kind: 'audio', from: 'bob' }, 10)), ['use bob/TR_bmic=p2 p2p (new)']);
  sw.meshLink('bob', { media: true, state: 'connected' });
  assert.equal(sw.phase, 'steady');
  return sw;
}

/** We and bob (and carol when given) in an SFU room: everything arrives over the subscriber leg, which is connected. */
function sfuRoom(withCarol: boolean): TopologySwitch {
  const sw = new TopologySwitch();
  assert.deepEqual(show(sw.start('sfu')), ['open-sfu']);
  sw.participant('bob', bobPubs, 0);
  if (withCarol) sw.participant('carol', carolPubs, 0);
  sw.sfuState('connected');
  sw.trackArrived({ id: 's1', path: 'sfu', streamId: 'bob-cam', kind: 'video' }, 10);
  sw.trackArrived({ id: 's2', path: 'sfu', streamId: 'bob-mic', kind: 'audio' }, 10);
  if (withCarol) sw.trackArrived({ id: 's3', path: 'sfu', streamId: 'carol-cam', kind: 'video' }, 10);
  return sw;
}

test('P2P → SFU: each new-path track replaces the mesh one once it decodes; moved once we have everything; the mesh link closes when bob moved too', () => {
  const sw = p2pCallWithBob();
  const start = sw.setMode('sfu', 1000);
  // Render sizes go out as soon as the room turns sfu, before any forwarded track arrives.
  assert.deepEqual(show(start), ['open-sfu', 'send-render-sizes']);
  assert.deepEqual(timers(start), [1000 + SWITCH_TIMEOUT_MS]);
  assert.equal(sw.phase, 'switching');
  sw.sfuState('connecting');
  const cam = sw.trackArrived({ id: 's1', path: 'sfu', streamId: 'bob-cam', kind: 'video' }, 1500);
  assert.deepEqual(show(cam), ['watch s1'], 'not used before it decodes: the mesh copy keeps playing');
  assert.deepEqual(timers(cam), [1500 + READY_TIMEOUT_MS], 'the readiness deadline comes before the fallback');
  assert.equal(sw.isWatching('s1'), true);
  assert.deepEqual(show(sw.trackDecoding('s1', 1700)), ['use bob/TR_bcam=s1 sfu (decoding)']);
  assert.equal(sw.isWatching('s1'), false);
  sw.trackArrived({ id: 's2', path: 'sfu', streamId: 'bob-mic', kind: 'audio' }, 1600);
  assert.deepEqual(show(sw.trackDecoding('s2', 1800)), ['use bob/TR_bmic=s2 sfu (decoding)', 'moved→bob sfu']);
  sw.sfuState('connected');
  const done = sw.remoteMoved('bob', 'sfu', 2000);
  assert.deepEqual(show(done), ['close-mesh-link bob']);
  assert.deepEqual(timers(done), [null], 'no fallback left to fire');
  assert.equal(sw.phase, 'steady');
  assert.equal(sw.knowsTrack('p1'), false, 'the closed link\'s tracks are forgotten');
});

test('P2P → SFU: bob said moved first; the link waits until we receive everything of his over the SFU', () => {
  const sw = p2pCallWithBob();
  sw.setMode('sfu', 0);
  assert.deepEqual(show(sw.remoteMoved('bob', 'sfu', 100)), [], 'we still play his mesh tracks');
  sw.trackArrived({ id: 's1', path: 'sfu', streamId: 'bob-cam', kind: 'video' }, 200);
  sw.trackArrived({ id: 's2', path: 'sfu', streamId: 'bob-mic', kind: 'audio' }, 200);
  sw.trackDecoding('s2', 300);
  assert.deepEqual(show(sw.trackDecoding('s1', 400)), ['use bob/TR_bcam=s1 sfu (decoding)', 'moved→bob sfu', 'close-mesh-link bob']);
});

test('SFU → P2P: the SFU legs close (with sfu-leave) when bob and we moved; a data-only link for files becomes a media link', () => {
  const sw = sfuRoom(false);
  sw.meshLink('bob', { media: false, state: 'connected' }); // a file went to bob earlier
  const start = sw.setMode('p2p', 1000);
  assert.deepEqual(show(start), ['open-mesh-media bob']);
  sw.meshLink('bob', { media: true, state: 'connected' });
  assert.deepEqual(show(sw.trackArrived({ id: 'p1', path: 'p2p', streamId: 'bob-cam', kind: 'video', from: 'bob' }, 1200)), ['watch p1']);
  assert.deepEqual(show(sw.trackArrived({ id: 'p2', path: 'p2p', streamId: 'bob-mic', kind: 'audio', from: 'bob' }, 1200)), ['watch p2']);
  sw.trackDecoding('p1', 1300);
  assert.deepEqual(show(sw.remoteMoved('bob', 'p2p', 1350)), [], 'we still receive his microphone through the SFU');
  assert.deepEqual(show(sw.trackDecoding('p2', 1400)), ['use bob/TR_bmic=p2 p2p (decoding)', 'moved→bob p2p', 'close-sfu']);
  assert.equal(sw.sfuOpen, false);
  assert.equal(sw.phase, 'steady');
});

test('flip-back mid-switch: the old path\'s still-live tracks come back at once; an ended one does not', () => {
  const sw = p2pCallWithBob();
  sw.setMode('sfu', 0);
  sw.trackArrived({ id: 's1', path: 'sfu', streamId: 'bob-cam', kind: 'video' }, 100);
  sw.trackDecoding('s1', 200); // camera now over the SFU, microphone still over the mesh
  const back = sw.setMode('p2p', 300);
  assert.deepEqual(show(back), ['use bob/TR_bcam=p1 p2p (flip-back)', 'open-mesh-media bob', 'moved→bob p2p']);
  assert.deepEqual(show(sw.remoteMoved('bob', 'p2p', 400)), ['close-sfu'], 'bob and we are back on the mesh: the legs go');
  assert.equal(sw.phase, 'steady');

  // Flip to sfu and back again, but the mesh camera track ended meanwhile: the SFU copy stays.
  const sw2 = p2pCallWithBob();
  sw2.setMode('sfu', 0);
  sw2.trackArrived({ id: 's1', path: 'sfu', streamId: 'bob-cam', kind: 'video' }, 100);
  sw2.trackDecoding('s1', 200);
  sw2.trackEnded('p1');
  assert.deepEqual(show(sw2.setMode('p2p', 300)), ['open-mesh-media bob']);
  assert.deepEqual(show(sw2.remoteMoved('bob', 'p2p', 400)), [], 'his camera still comes through the SFU: the legs stay');
});

test('a flip-back drops the other path\'s tracks still waiting to decode, and a late arrival on the old path is ignored', () => {
  const sw = p2pCallWithBob();
  sw.setMode('sfu', 0);
  sw.trackArrived({ id: 's1', path: 'sfu', streamId: 'bob-cam', kind: 'video' }, 100);
  assert.equal(sw.isWatching('s1'), true);
  sw.setMode('p2p', 200);
  assert.equal(sw.isWatching('s1'), false, 'no use for the SFU copy any more');
  assert.deepEqual(show(sw.trackDecoding('s1', 300)), []);
  assert.deepEqual(show(sw.trackArrived({ id: 's2', path: 'sfu', streamId: 'bob-mic', kind: 'audio' }, 400)), []);
});

test('moved is sent once per peer per switch, however often the state is re-examined', () => {
  const sw = p2pCallWithBob();
  sw.participant('carol', carolPubs, 0);
  sw.meshLink('carol', { media: true, state: 'connected' });
  sw.trackArrived({ id: 'p3', path: 'p2p', streamId: 'carol-cam', kind: 'video', from: 'carol' }, 0);
  const all: SwitchAction[] = [...sw.setMode('sfu', 0)];
  for (const [id, streamId, kind] of [['s1', 'bob-cam', 'video'], ['s2', 'bob-mic', 'audio']] as const) {
    all.push(...sw.trackArrived({ id, path: 'sfu', streamId, kind }, 100));
    all.push(...sw.trackDecoding(id, 150));
  }
  // Everything after this re-examines bob's state; none of it may say moved again.
  all.push(...sw.trackArrived({ id: 's1', path: 'sfu', streamId: 'bob-cam', kind: 'video' }, 200)); // ontrack again (renegotiation)
  all.push(...sw.participant('bob', bobPubs, 250));
  all.push(...sw.remoteMoved('carol', 'sfu', 300));
  all.push(...sw.tick(400));
  assert.deepEqual(show(all).filter((a) => a.startsWith('moved')), ['moved→bob sfu']);
  // A new switch is a new round: once back on the mesh, bob is told again (and carol, whose
  // camera never left the mesh, at once).
  const back = sw.setMode('p2p', 500);
  assert.deepEqual(show(back).filter((a) => a.startsWith('moved')), ['moved→bob p2p', 'moved→carol p2p']);
});

test('10 s fallback P2P → SFU: a track that never decodes is used after the readiness timeout; the mesh link closes at the deadline although bob never said moved', () => {
  const sw = p2pCallWithBob();
  sw.setMode('sfu', 0);
  sw.sfuState('connected');
  sw.trackArrived({ id: 's1', path: 'sfu', streamId: 'bob-cam', kind: 'video' }, 100);
  assert.deepEqual(show(sw.tick(100 + READY_TIMEOUT_MS - 1)), []);
  assert.deepEqual(show(sw.tick(100 + READY_TIMEOUT_MS)), ['use bob/TR_bcam=s1 sfu (timeout)']);
  assert.deepEqual(show(sw.tick(SWITCH_TIMEOUT_MS - 1)), []);
  const forced = sw.tick(SWITCH_TIMEOUT_MS);
  assert.deepEqual(show(forced), ['close-mesh-link bob']);
  assert.deepEqual(timers(forced), [null]);
  assert.equal(sw.phase, 'steady');
});

test('10 s fallback with the new path down: both paths stay, the check repeats every 10 s, and the old path closes once the new one is up', () => {
  const sw = p2pCallWithBob();
  sw.setMode('sfu', 0);
  sw.sfuState('connecting');
  const first = sw.tick(SWITCH_TIMEOUT_MS);
  assert.deepEqual(show(first), [], 'a dead SFU leg must not take the working mesh with it');
  assert.deepEqual(timers(first), [2 * SWITCH_TIMEOUT_MS]);
  assert.equal(sw.phase, 'switching');
  sw.sfuState('failed');
  assert.deepEqual(show(sw.tick(2 * SWITCH_TIMEOUT_MS)), []);
  sw.sfuState('connected');
  sw.trackArrived({ id: 's1', path: 'sfu', streamId: 'bob-cam', kind: 'video' }, 3 * SWITCH_TIMEOUT_MS - 1000);
  // The fallback closes the link and takes the SFU copy without waiting for it to decode.
  assert.deepEqual(show(sw.tick(3 * SWITCH_TIMEOUT_MS)), ['close-mesh-link bob', 'use bob/TR_bcam=s1 sfu (timeout)']);
  assert.equal(sw.phase, 'steady');
});

test('10 s fallback SFU → P2P: waits while a mesh link is not connected, then closes the SFU legs', () => {
  const sw = sfuRoom(false);
  sw.setMode('p2p', 0);
  sw.meshLink('bob', { media: true, state: 'connecting' });
  assert.deepEqual(show(sw.tick(SWITCH_TIMEOUT_MS)), [], 'the mesh link is not up');
  assert.equal(sw.sfuOpen, true);
  sw.meshLink('bob', { media: true, state: 'connected' });
  assert.deepEqual(show(sw.tick(2 * SWITCH_TIMEOUT_MS)), ['close-sfu']);
  assert.equal(sw.knowsTrack('s1'), false);
});

test('a participant leaving mid-switch no longer holds it up: the SFU legs close when the last one left has moved', () => {
  const sw = sfuRoom(true);
  sw.setMode('p2p', 0);
  sw.meshLink('bob', { media: true, state: 'connected' });
  sw.meshLink('carol', { media: true, state: 'new' });
  sw.trackArrived({ id: 'p1', path: 'p2p', streamId: 'bob-cam', kind: 'video', from: 'bob' }, 100);
  sw.trackArrived({ id: 'p2', path: 'p2p', streamId: 'bob-mic', kind: 'audio', from: 'bob' }, 100);
  sw.trackDecoding('p1', 200);
  sw.trackDecoding('p2', 200);
  assert.deepEqual(show(sw.remoteMoved('bob', 'p2p', 300)), [], 'carol still comes through the SFU');
  assert.deepEqual(show(sw.participantLeft('carol', 400)), ['close-sfu']);
  assert.equal(sw.phase, 'steady');
  // Her late tracks are nobody's.
  assert.deepEqual(show(sw.trackArrived({ id: 'p9', path: 'p2p', streamId: 'carol-cam', kind: 'video', from: 'carol' }, 500)), []);
});

test('a participant leaving mid P2P → SFU switch: the others finish; its tracks are forgotten', () => {
  const sw = p2pCallWithBob();
  sw.participant('carol', carolPubs, 0);
  sw.meshLink('carol', { media: true, state: 'connected' });
  sw.trackArrived({ id: 'p3', path: 'p2p', streamId: 'carol-cam', kind: 'video', from: 'carol' }, 0);
  sw.setMode('sfu', 0);
  sw.trackArrived({ id: 's3', path: 'sfu', streamId: 'carol-cam', kind: 'video' }, 100);
  assert.equal(sw.isWatching('s3'), true);
  sw.participantLeft('carol', 150);
  assert.equal(sw.isWatching('s3'), false);
  assert.equal(sw.knowsTrack('p3'), false);
  for (const [id, streamId, kind] of [['s1', 'bob-cam', 'video'], ['s2', 'bob-mic', 'audio']] as const) {
    sw.trackArrived({ id, path: 'sfu', streamId, kind }, 200);
    sw.trackDecoding(id, 250);
  }
  assert.deepEqual(show(sw.remoteMoved('bob', 'sfu', 300)), ['close-mesh-link bob']);
  assert.equal(sw.phase, 'steady');
});

test('an SFU track that arrives before its publisher\'s track list is matched once the list comes', () => {
  const sw = new TopologySwitch();
  sw.start('sfu');
  sw.participant('bob', [], 0);
  assert.deepEqual(show(sw.trackArrived({ id: 's1', path: 'sfu', streamId: 'bob-cam', kind: 'video' }, 10)), []);
  assert.deepEqual(show(sw.participant('bob', bobPubs, 20)), ['use bob/TR_bcam=s1 sfu (new)']);
});

test('data-only mesh links (files in an SFU room) are not closed by a switch, and do not hold it up', () => {
  const sw = sfuRoom(false);
  sw.meshLink('bob', { media: false, state: 'connected' });
  assert.deepEqual(show(sw.tick(100)), []);
  assert.equal(sw.phase, 'steady');
  sw.setMode('sfu', 200); // same mode: nothing happens
  assert.equal(sw.phase, 'steady');
});

test('reset forgets everything and clears the timer', () => {
  const sw = p2pCallWithBob();
  sw.setMode('sfu', 0);
  const reset = sw.reset();
  assert.deepEqual(timers(reset), [null]);
  assert.equal(sw.mode, 'p2p');
  assert.equal(sw.knowsTrack('p1'), false);
  assert.deepEqual(show(sw.tick(SWITCH_TIMEOUT_MS)), []);
});
