/**
 * WHIP publishers (RFC 9725) in a room's SFU: a participant whose only peer connection is the
 * publisher leg of a {@link BrowserMember} (its subscriber leg is never offered), negotiated
 * over HTTP instead of signaling. The client's offer is answered as a browser's publisher offer
 * is; the answer carries the SFU's candidates (werift gathers them during setLocalDescription),
 * so a client that does not trickle connects too. Trickled client candidates arrive in SDP
 * fragments (RFC 8840, `application/trickle-ice-sdpfrag`).
 */
import type { RTCPeerConnection } from 'werift';
import { SfuApiError } from '../local-rtp/local-rtp-room.js';
import type { SfuRoom } from './sfu-room.js';

/** Longest wait for the SFU's own ICE candidates before answering, ms. */
export const WHIP_GATHER_TIMEOUT_MS = 3000;

/**
 * Starts a WHIP publisher `identity` in `room` and answers its offer.
 * @param offer the client's SDP offer (checked by the caller with `sdpProblem`)
 * @returns the SDP answer, with the SFU's host candidates in it
 * @throws SfuApiError `participant-exists` (a participant of that identity is in the SFU room),
 *   `room-closed`, `bad-option` (werift refused the offer: the message says why)
 */
export async function whipPublish(room: SfuRoom, identity: string, sid: string, offer: string): Promise<string> {
  if (room.isClosed) throw new SfuApiError('room-closed', `room ${room.name} is closed`);
  if (room.core.participantKind(identity) !== undefined) throw new SfuApiError('participant-exists', `${JSON.stringify(identity)} is already in room ${room.name}`);
  room.join(identity, sid, { subscribe: false, send: () => undefined });
  const member = room.member(identity);
  if (!member) throw new SfuApiError('participant-exists', `${JSON.stringify(identity)} could not join room ${room.name}`);
  try {
    await room.handle(identity, 'publisher', { description: { type: 'offer', sdp: offer } });
  } catch (err) {
    room.leave(identity);
    throw new SfuApiError('bad-option', `the offer was refused: ${(err as Error).message}`);
  }
  await gathered(member.publisher, WHIP_GATHER_TIMEOUT_MS);
  return member.publisher.localDescription!.sdp;
}

/**
 * A PATCH of a WHIP session with an SDP fragment (RFC 9725 §4.3.1, RFC 8840 §9): its
 * `a=candidate` lines are added to the publisher leg, each under the fragment's `a=mid` (the
 * first media section's when none). An `a=end-of-candidates` is accepted and ignored.
 * @returns the number of candidates added
 * @throws SfuApiError `unknown-participant` (no such WHIP session), `bad-option` (a candidate werift refused)
 */
export async function whipTrickle(room: SfuRoom, identity: string, fragment: string): Promise<number> {
  const member = room.member(identity);
  if (!member) throw new SfuApiError('unknown-participant', `no WHIP session of ${JSON.stringify(identity)} in room ${room.name}`);
  let mid: string | null = member.publisher.getTransceivers()[0]?.mid ?? null;
  let added = 0;
  for (const line of fragment.split(/\r?\n/)) {
    const m = /^a=mid:(\S+)/.exec(line);
    if (m) mid = m[1]!;
    const c = /^a=(candidate:.*)$/.exec(line.trim());
    if (!c) continue;
    try {
      await member.publisher.addIceCandidate({ candidate: c[1]!, sdpMid: mid });
    } catch (err) {
      throw new SfuApiError('bad-option', `candidate refused: ${(err as Error).message}`);
    }
    added++;
  }
  return added;
}

/**
 * An ICE restart of a WHIP session (RFC 9725 §4.3.2): the fragment's `a=ice-ufrag` and
 * `a=ice-pwd` replace the client's in its last offer (its old candidates dropped, the fragment's
 * taken), which the publisher leg takes as a new offer; werift sees new remote credentials and
 * restarts ICE with fresh ones of its own (RFC 8445 §9).
 * @returns the answer's fragment: `a=ice-ufrag`, `a=ice-pwd`, then the SFU's candidates and `a=end-of-candidates`
 * @throws SfuApiError `unknown-participant` (no such session), `bad-option` (no ufrag or pwd in
 *   the fragment, or werift refused the offer)
 */
export async function whipRestartIce(room: SfuRoom, identity: string, fragment: string): Promise<string> {
  const member = room.member(identity);
  const previous = member?.publisher.remoteDescription?.sdp;
  if (!member || !previous) throw new SfuApiError('unknown-participant', `no WHIP session of ${JSON.stringify(identity)} in room ${room.name}`);
  const ufrag = /^a=ice-ufrag:(\S+)/m.exec(fragment)?.[1];
  const pwd = /^a=ice-pwd:(\S+)/m.exec(fragment)?.[1];
  if (!ufrag || !pwd) throw new SfuApiError('bad-option', 'an ICE restart fragment needs a=ice-ufrag and a=ice-pwd');
  const candidates = fragment.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:'));
  const eol = previous.includes('\r\n') ? '\r\n' : '\n';
  const offer = previous
    .split(/\r?\n/)
    .filter((l) => !l.startsWith('a=candidate:') && l !== 'a=end-of-candidates')
    .flatMap((l) => (l.startsWith('a=ice-ufrag:') ? [`a=ice-ufrag:${ufrag}`] : l.startsWith('a=ice-pwd:') ? [`a=ice-pwd:${pwd}`] : l.startsWith('a=mid:') ? [l, ...candidates] : [l]))
    .join(eol);
  try {
    await room.handle(identity, 'publisher', { description: { type: 'offer', sdp: offer } });
  } catch (err) {
    throw new SfuApiError('bad-option', `the ICE restart was refused: ${(err as Error).message}`);
  }
  await gathered(member.publisher, WHIP_GATHER_TIMEOUT_MS);
  const answer = member.publisher.localDescription!.sdp;
  const lines = answer.split(/\r?\n/);
  const first = (prefix: string) => lines.find((l) => l.startsWith(prefix)) ?? '';
  // The bundled transport's candidates: those of the first media section (RFC 8843 §7).
  const start = lines.findIndex((l) => l.startsWith('m='));
  const next = lines.findIndex((l, i) => i > start && l.startsWith('m='));
  const own = lines.slice(start, next < 0 ? undefined : next).filter((l) => l.startsWith('a=candidate:'));
  return [first('a=ice-ufrag:'), first('a=ice-pwd:'), ...own, 'a=end-of-candidates', ''].join('\r\n');
}

/** Resolves when werift has gathered the connection's candidates, or after `timeoutMs`. */
export function gathered(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(done, timeoutMs);
    const sub = pc.iceGatheringStateChange.subscribe((s) => {
      if (s === 'complete') done();
    });
    function done(): void {
      clearTimeout(timer);
      sub.unSubscribe();
      resolve();
    }
  });
}
