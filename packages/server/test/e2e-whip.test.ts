/**
 * WHIP (RFC 9725, issue #11 item 3) against a real server: each bad request gets its status
 * (401, 403, 415, 400, 404, 405, 412), for WHIP and WHEP; OPTIONS answers the CORS preflight; a Chromium page
 * publishing over WHIP (its candidates trickled in PATCHes, none in the offer) is a participant
 * of the room that a Chromium SDK subscriber sees (ingress type whip) and decodes; its ICE
 * servers come in Link headers; a WHEP player in Chromium plays its video and audio; an ICE restart over PATCH keeps its video coming; DELETE ends it (the subscriber sees it leave) and a second
 * DELETE is 404.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import type { RunningServer } from '../src/serve.js';
import { devToken } from './helpers.js';
import { testServer } from './helpers.js';
import { joinWithSdk, launchChromium, type Participant } from '@dari/testkit';
import { decodes } from './decoding.js';

let server: RunningServer;
let browser: Browser;

before(async () => {
  server = await testServer({ turn: { enabled: true, port: 0 } });
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  await server?.close();
});

/** A minimal valid offer (one Opus section): enough to pass the SDP checks, never connected. */
const OFFER = [
  'v=0',
  'o=- 1 1 IN IP4 127.0.0.1',
  's=-',
  't=0 0',
  'a=group:BUNDLE 0',
  'a=fingerprint:sha-256 12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0:12:34:56:78:9A:BC:DE:F0',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111',
  'c=IN IP4 0.0.0.0',
  'a=mid:0',
  'a=sendonly',
  'a=ice-ufrag:abcd',
  'a=ice-pwd:abcdefghijklmnopqrstuvwx',
  'a=setup:actpass',
  'a=rtcp-mux',
  'a=rtpmap:111 opus/48000/2',
  '',
].join('\r\n');

async function post(path: string, init: { token?: string; type?: string; body?: string; method?: string; headers?: Record<string, string> } = {}): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token) headers['authorization'] = `Bearer ${init.token}`;
  if (init.type) headers['content-type'] = init.type;
  return fetch(`${server.url}${path}`, { method: init.method ?? 'POST', headers, ...(init.body !== undefined ? { body: init.body } : {}) });
}

async function errorCode(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

test('WHIP refuses bad requests with the status RFC 9725 names, and answers CORS preflights', async () => {
  const token = await devToken('whipbad', 'cam');
  let res = await post('/whip', { type: 'application/sdp', body: OFFER });
  assert.equal(res.status, 401, 'no token');
  assert.equal(await errorCode(res), 'UNAUTHORIZED');
  res = await post('/whip', { token: 'not.a.jwt', type: 'application/sdp', body: OFFER });
  assert.equal(res.status, 401, 'a token that does not verify');
  assert.equal(await errorCode(res), 'TOKEN_INVALID');
  res = await post('/whip', { token: await devToken('whipbad', 'cam', { grants: { canPublish: false } }), type: 'application/sdp', body: OFFER });
  assert.equal(res.status, 403, 'no canPublish');
  res = await post('/whip', { token, type: 'application/json', body: '{}' });
  assert.equal(res.status, 415, 'wrong content type');
  assert.match(((await res.json()) as { error: { message: string } }).error.message, /Content-Type: expected application\/sdp/);
  res = await post('/whip', { token, type: 'application/sdp', body: 'hello' });
  assert.equal(res.status, 400, 'malformed SDP');
  assert.equal(await errorCode(res), 'INVALID_SDP');
  res = await post('/whip', { token, type: 'application/sdp', body: OFFER.replace(/a=fingerprint:.*\r\n/, '') });
  assert.equal(res.status, 400, 'no DTLS fingerprint');
  res = await post('/whip', { token, method: 'GET' });
  assert.equal(res.status, 405);
  res = await post('/whip/nosuchsession', { token, method: 'DELETE' });
  assert.equal(res.status, 404, 'deleting an unknown session');
  res = await post('/whip/nosuchsession', { token, method: 'PATCH', type: 'application/trickle-ice-sdpfrag', body: 'a=mid:0\r\n' });
  assert.equal(res.status, 404);
  res = await post('/whip', { method: 'OPTIONS', headers: { origin: 'https://obs.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' } });
  assert.equal(res.status, 204);
  assert.equal(res.headers.get('access-control-allow-origin'), '*');
  assert.match(res.headers.get('access-control-allow-methods') ?? '', /POST.*PATCH.*DELETE/);
  assert.match(res.headers.get('access-control-allow-headers') ?? '', /Authorization.*Content-Type/i);
  // WHEP: the same rules.
  res = await post('/whep/cam', { type: 'application/sdp', body: OFFER });
  assert.equal(res.status, 401, 'WHEP without a token');
  res = await post('/whep/cam', { token: await devToken('whipbad', 'v', { grants: { canSubscribe: false } }), type: 'application/sdp', body: OFFER });
  assert.equal(res.status, 403, 'WHEP without canSubscribe');
  res = await post('/whep/cam', { token, type: 'text/plain', body: OFFER });
  assert.equal(res.status, 415);
  res = await post('/whep/cam', { token, type: 'application/sdp', body: 'v=0\r\n' });
  assert.equal(res.status, 400);
  res = await post('/whep/nobody', { token, type: 'application/sdp', body: OFFER.replace('a=sendonly', 'a=recvonly') });
  assert.equal(res.status, 404, 'WHEP of a participant that publishes nothing here');
  res = await post('/whep/cam/nosuchsession', { token, method: 'DELETE' });
  assert.equal(res.status, 404);
  assert.equal(server.sfu.stats().rooms, 0, 'nothing refused reached the SFU');
  assert.equal(server.signaling.core.roomInfo('whipbad'), undefined, 'nor the room');
});

/**
 * In the page: publishes camera and microphone over WHIP. The offer goes without candidates
 * (posted right after createOffer); they follow in PATCHes with If-Match, so media flows only if
 * trickle ICE works.
 */
async function whipPublish(page: Page, url: string, token: string): Promise<{ status: number; location: string; links: string; etag: string; patches: number[] }> {
  return page.evaluate(
    async ({ url, token }) => {
      const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 320, height: 240, frameRate: 15 }, audio: true });
      const pc = new RTCPeerConnection();
      for (const t of stream.getTracks()) pc.addTransceiver(t, { direction: 'sendonly', streams: [stream] });
      const offer = await pc.createOffer();
      const queued: RTCIceCandidate[] = [];
      let send: ((c: RTCIceCandidate) => void) | null = null;
      pc.onicecandidate = (e) => {
        if (e.candidate) (send ? send(e.candidate) : queued.push(e.candidate));
      };
      await pc.setLocalDescription(offer);
      const res = await fetch(`${url}/whip`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/sdp' }, body: offer.sdp ?? '' });
      const answer = await res.text();
      const location = res.headers.get('location') ?? '';
      const etag = res.headers.get('etag') ?? '';
      const patches: number[] = [];
      const w = window as unknown as Record<string, unknown>;
      const session = { pc, location, etag, token, url, setSend: (f: typeof send) => (send = f), patches };
      w['whip'] = session;
      send = (c) => {
        const frag = `a=ice-ufrag:${c.usernameFragment}\r\na=mid:${c.sdpMid}\r\na=${c.candidate}\r\n`;
        void fetch(new URL(location, url), { method: 'PATCH', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/trickle-ice-sdpfrag', 'if-match': session.etag }, body: frag }).then((r) => patches.push(r.status));
      };
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      for (const c of queued.splice(0)) send(c);
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`WHIP leg not connected: ${pc.connectionState}`)), 15_000);
        const check = () => {
          if (pc.connectionState === 'connected') {
            clearTimeout(t);
            resolve();
          }
        };
        pc.onconnectionstatechange = check;
        check();
      });
      return { status: res.status, location, links: res.headers.get('link') ?? '', etag, patches };
    },
    { url, token },
  );
}

test('a Chromium WHIP publisher (trickled candidates) is a participant the room decodes; DELETE ends it', { timeout: 90_000 }, async () => {
  const room = 'whiproom';
  const ps: Participant[] = [];
  try {
    const viewer = await joinWithSdk(browser, server.url, server.url, await devToken(room, 'viewer'), 'viewer', false);
    ps.push(viewer);
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${server.url}/healthz`);
    const token = await devToken(room, 'encoder', { name: 'Studio encoder' });
    const pub = await whipPublish(page, server.url, token);
    assert.equal(pub.status, 201);
    assert.match(pub.location, /^\/whip\/[A-Za-z0-9_-]+$/);
    assert.match(pub.etag, /^".+"$/);
    // ICE servers (the embedded TURN server's, with credentials) in Link headers, RFC 9725 §4.6.
    assert.match(pub.links, /<turn:[^>]+>; rel="ice-server"; username="[^"]+"; credential="[^"]+"; credential-type="password"/);
    assert.ok(pub.patches.every((s) => s === 204), `trickle PATCHes answered 204: ${pub.patches.join(',')}`);
    const info = await viewer.page.evaluate(() => {
      const p = (window as unknown as { room: { remoteParticipants: Map<string, { info: { name: string; ingress?: unknown; tracks: { kind: string }[] } }> } }).room.remoteParticipants.get('encoder');
      return p ? { name: p.info.name, ingress: p.info.ingress, kinds: p.info.tracks.map((t) => t.kind).sort() } : null;
    });
    assert.deepEqual(info, { name: 'Studio encoder', ingress: { type: 'whip', state: 'active' }, kinds: ['audio', 'video'] });
    const got = await decodes(viewer, 'encoder');
    assert.equal(got.mimeType, 'video/VP8', 'a browser WHIP publisher sends VP8, the SFU\'s first choice');
    // ICE restart (RFC 9725 §4.3.2): new credentials in a PATCH; the SFU answers with its own.
    const restart = await page.evaluate(async () => {
      const s = (window as unknown as { whip: { pc: RTCPeerConnection; location: string; etag: string; token: string; url: string; setSend(f: ((c: RTCIceCandidate) => void) | null): void } }).whip;
      const oldRemote = s.pc.currentRemoteDescription!.sdp;
      const held: RTCIceCandidate[] = [];
      s.setSend((c) => held.push(c)); // trickle waits until the restart is answered
      s.pc.restartIce();
      const offer = await s.pc.createOffer();
      await s.pc.setLocalDescription(offer);
      const ufrag = /a=ice-ufrag:(\S+)/.exec(offer.sdp!)![1]!;
      const pwd = /a=ice-pwd:(\S+)/.exec(offer.sdp!)![1]!;
      const res = await fetch(new URL(s.location, s.url), { method: 'PATCH', headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/trickle-ice-sdpfrag', 'if-match': '*' }, body: `a=ice-ufrag:${ufrag}\r\na=ice-pwd:${pwd}\r\n` });
      const frag = await res.text();
      const newUfrag = /a=ice-ufrag:(\S+)/.exec(frag)?.[1] ?? '';
      const newPwd = /a=ice-pwd:(\S+)/.exec(frag)?.[1] ?? '';
      const candidates = frag.split(/\r?\n/).filter((l) => l.startsWith('a=candidate:'));
      const answer = oldRemote
        .split(/\r?\n/)
        .filter((l) => !l.startsWith('a=candidate:'))
        .map((l) => (l.startsWith('a=ice-ufrag:') ? `a=ice-ufrag:${newUfrag}` : l.startsWith('a=ice-pwd:') ? `a=ice-pwd:${newPwd}` : l))
        .flatMap((l) => (l.startsWith('a=mid:') ? [l, ...candidates] : [l]))
        .join('\r\n');
      await s.pc.setRemoteDescription({ type: 'answer', sdp: answer });
      const etag = res.headers.get('etag') ?? '';
      s.etag = etag;
      const oldUfrag = /a=ice-ufrag:(\S+)/.exec(oldRemote)![1]!;
      const send = (c: RTCIceCandidate) =>
        void fetch(new URL(s.location, s.url), { method: 'PATCH', headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/trickle-ice-sdpfrag', 'if-match': s.etag }, body: `a=ice-ufrag:${c.usernameFragment}\r\na=mid:${c.sdpMid}\r\na=${c.candidate}\r\n` });
      s.setSend(send);
      for (const c of held) send(c);
      const t0 = Date.now();
      while (s.pc.iceConnectionState !== 'connected' && s.pc.iceConnectionState !== 'completed' && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 100));
      return { status: res.status, type: res.headers.get('content-type'), etag, oldUfrag, newUfrag, candidates: candidates.length, ice: s.pc.iceConnectionState };
    });
    assert.equal(restart.status, 200, 'ICE restart answered');
    assert.equal(restart.type, 'application/trickle-ice-sdpfrag');
    assert.ok(restart.etag !== '' && restart.etag !== pub.etag, 'a new entity tag');
    assert.ok(restart.newUfrag !== '' && restart.newUfrag !== restart.oldUfrag, `new SFU credentials (${restart.oldUfrag} -> ${restart.newUfrag})`);
    assert.ok(restart.candidates > 0, 'the SFU\'s candidates in the answer fragment');
    assert.match(restart.ice, /connected|completed/, 'ICE connected again on the new credentials');
    const after = await decodes(viewer, 'encoder');
    assert.ok(after.framesDecoded > got.framesDecoded, 'video keeps coming after the restart');
    // WHEP: a player in another page plays the WHIP publisher's audio and video.
    const player = await context.newPage();
    await player.goto(`${server.url}/healthz`);
    const played = await player.evaluate(
      async ({ url, token }) => {
        const pc = new RTCPeerConnection();
        pc.addTransceiver('video', { direction: 'recvonly' });
        pc.addTransceiver('audio', { direction: 'recvonly' });
        await pc.setLocalDescription(await pc.createOffer());
        const t0 = Date.now();
        while (pc.iceGatheringState !== 'complete' && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 50));
        const res = await fetch(`${url}/whep/encoder`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/sdp' }, body: pc.localDescription!.sdp });
        if (res.status !== 201) return { status: res.status, error: await res.text(), video: '', frames: 0, audioPackets: 0, location: '' };
        await pc.setRemoteDescription({ type: 'answer', sdp: await res.text() });
        let out = { video: '', frames: 0, audioPackets: 0 };
        while (Date.now() - t0 < 20_000) {
          const report = await pc.getStats();
          report.forEach((s: { type: string; kind?: string; codecId?: string; framesDecoded?: number; packetsReceived?: number }) => {
            if (s.type !== 'inbound-rtp') return;
            if (s.kind === 'video') out = { ...out, video: (report as unknown as Map<string, { mimeType?: string }>).get(s.codecId ?? '')?.mimeType ?? '', frames: s.framesDecoded ?? 0 };
            if (s.kind === 'audio') out = { ...out, audioPackets: s.packetsReceived ?? 0 };
          });
          if (out.frames >= 10 && out.audioPackets >= 20) break;
          await new Promise((r) => setTimeout(r, 200));
        }
        return { status: res.status, error: '', location: res.headers.get('location') ?? '', ...out };
      },
      { url: server.url, token: await devToken(room, 'watcher') },
    );
    assert.equal(played.status, 201, played.error);
    assert.equal(played.video, 'video/VP8');
    assert.ok(played.frames >= 10, `WHEP player decoded ${played.frames} frames`);
    assert.ok(played.audioPackets >= 20, `WHEP player received ${played.audioPackets} audio packets`);
    assert.match(played.location, /^\/whep\/encoder\/[A-Za-z0-9_-]+$/);
    assert.equal((await post(played.location, { token: await devToken(room, 'watcher'), method: 'DELETE' })).status, 200, 'the player ends its session');
    assert.equal(server.signaling.core.roomInfo(room)?.some((p) => p.identity === 'watcher'), false, 'a WHEP viewer is no participant');

    // A token of another identity may not end it; the right one may, once.
    let res = await post(pub.location, { token: await devToken(room, 'viewer'), method: 'DELETE' });
    assert.equal(res.status, 403);
    res = await post(pub.location, { token, method: 'PATCH', type: 'application/trickle-ice-sdpfrag', body: 'a=mid:0\r\n', headers: { 'if-match': '"stale"' } });
    assert.equal(res.status, 412, 'If-Match with a stale entity tag');
    res = await post(pub.location, { token, method: 'DELETE' });
    assert.equal(res.status, 200);
    await viewer.page.waitForFunction(() => !(window as unknown as { room: { remoteParticipants: Map<string, unknown> } }).room.remoteParticipants.has('encoder'), undefined, { timeout: 10_000 });
    res = await post(pub.location, { token, method: 'DELETE' });
    assert.equal(res.status, 404, 'the session is gone');
    assert.equal(server.sfu.publications(room).filter((p) => p.participant === 'encoder').length, 0, 'its tracks left the SFU');
    await context.close();
  } finally {
    for (const p of ps) await p.page.context().close();
  }
});
