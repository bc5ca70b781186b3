/** Ingress participants (WHIP publishers, cameras) in the signaling core: presence, topology, no SFU membership of theirs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerMessage, TokenClaims } from '@dari/protocol';
import { SignalingCore, type Action } from '../src/signaling/core.js';

function setup(policy: 'auto' | 'p2p' | 'sfu' = 'auto') {
  let n = 0;
  const core = new SignalingCore({ iceServers: () => [], newSid: () => `PA_${++n}`, roomPolicy: () => policy });
  const inbox: ServerMessage[] = [];
  const sfu: string[] = [];
  const apply = (actions: Action[]) => {
    for (const a of actions) {
      if (a.kind === 'send') inbox.push(a.message);
      else if (a.kind === 'sfu-join') sfu.push(`join:${a.identity}`);
      else if (a.kind === 'sfu-leave') sfu.push(`leave:${a.identity}`);
    }
  };
  const browser = (conn: number, identity: string) => {
    apply(core.open(conn, 0));
    const { actions, join } = core.receive(conn, JSON.stringify({ type: 'join', v: 1, token: 't', room: 'r' }), 0);
    apply(actions);
    const claims: TokenClaims = { iss: 'k', sub: identity, exp: 9e9, room: 'r' };
    apply(core.completeJoin(join!, claims, 0));
  };
  return { core, inbox, sfu, apply, browser };
}

test('an ingress participant joins like anyone (presence), turns an auto room to sfu, and leaves', () => {
  const { core, inbox, sfu, apply, browser } = setup('auto');
  browser(1, 'ann');
  assert.equal(core.roomMode('r'), 'p2p');
  const added = core.addIngressParticipant('r', { identity: 'cam', name: 'Lobby camera', ingress: { type: 'rtsp', state: 'connecting' } }, 5);
  assert.ok(!('error' in added));
  apply(added.actions);
  const joined = inbox.find((m) => m.type === 'participant-joined');
  assert.ok(joined && joined.type === 'participant-joined');
  assert.deepEqual(joined.participant.ingress, { type: 'rtsp', state: 'connecting' });
  assert.equal(joined.participant.name, 'Lobby camera');
  assert.equal(core.roomMode('r'), 'sfu', 'reached through the SFU only');
  assert.ok(inbox.some((m) => m.type === 'room-mode' && m.mode === 'sfu'));
  assert.deepEqual(sfu, ['join:ann'], 'the browser joins the SFU; the ingress adapter joins its own');
  const tracks = [{ sid: 'cam#1', source: 'camera' as const, kind: 'video' as const, streamId: 'cam', muted: false }];
  apply(core.updateIngressParticipant('r', 'cam', { tracks, ingress: { type: 'rtsp', state: 'reconnecting' } }));
  const updated = inbox.filter((m) => m.type === 'participant-updated').at(-1);
  assert.ok(updated && updated.type === 'participant-updated');
  assert.deepEqual(updated.participant.tracks, tracks);
  assert.equal(updated.participant.ingress?.state, 'reconnecting');
  assert.deepEqual(core.updateIngressParticipant('r', 'ann', { tracks: [] }), [], 'a browser is not updated this way');
  apply(core.removeIngressParticipant('r', 'cam'));
  assert.ok(inbox.some((m) => m.type === 'participant-left' && m.identity === 'cam'));
  assert.deepEqual(sfu, ['join:ann'], 'no sfu-leave for the ingress: its adapter leaves the SFU');
  assert.equal(core.roomInfo('r')?.length, 1);
});

test('an ingress participant is refused when its identity is taken or the room is full; it alone keeps a room', () => {
  const { core, browser } = setup('sfu');
  browser(1, 'ann');
  const taken = core.addIngressParticipant('r', { identity: 'ann', ingress: { type: 'whip', state: 'connecting' } }, 0);
  assert.ok('error' in taken && taken.error === 'identity-taken');
  const alone = core.addIngressParticipant('empty', { identity: 'cam', ingress: { type: 'whip', state: 'active' } }, 0);
  assert.ok(!('error' in alone));
  assert.equal(core.roomInfo('empty')?.[0]?.identity, 'cam');
  assert.equal(core.tick(10 * 60_000).length, 0, 'never reaped as disconnected');
  assert.equal(core.roomInfo('empty')?.length, 1);
  // A browser with a camera's identity is refused, the camera stays.
  const { core: c2, inbox: box2, browser: b2, apply: a2 } = setup('sfu');
  const cam = c2.addIngressParticipant('r', { identity: 'cam', ingress: { type: 'rtsp', state: 'active' } }, 0);
  assert.ok(!('error' in cam));
  a2(cam.actions);
  b2(9, 'cam');
  const err = box2.find((m) => m.type === 'error');
  assert.ok(err && err.type === 'error' && err.code === 'PERMISSION_DENIED', JSON.stringify(err));
  assert.equal(c2.roomInfo('r')?.[0]?.ingress?.type, 'rtsp');
  const full = new SignalingCore({ iceServers: () => [], maxParticipantsPerRoom: 1 });
  full.addIngressParticipant('x', { identity: 'a', ingress: { type: 'whip', state: 'active' } }, 0);
  const refused = full.addIngressParticipant('x', { identity: 'b', ingress: { type: 'whip', state: 'active' } }, 0);
  assert.ok('error' in refused && refused.error === 'room-full');
});
