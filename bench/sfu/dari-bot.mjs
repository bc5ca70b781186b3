/**
 * A werift client for Dari's SFU rooms (docs/protocol.md, "SFU rooms"): one WebSocket to
 * `/rtc`, `join`, then two peer connections to the server — the *publisher* leg (we offer our
 * tracks, the SFU answers) and the *subscriber* leg (the SFU offers everyone else's tracks, we
 * answer; it offers again when tracks come and go). Candidates travel as `sfu-candidate`.
 *
 * Plain ESM on werift and ws, usable by benchmarks (bench/sfu/run.mjs) and tests:
 *
 *   const bot = new DariBot({ url: 'ws://127.0.0.1:7880/rtc', token });
 *   await bot.connect();                         // `joined`, mode must be 'sfu'
 *   const media = await bot.publish();           // synthetic VP8 + Opus, see media.mjs
 *   bot.on('track', (track, stats) => …);        // each forwarded track, with receive stats
 *   await bot.subscriberConnected(10_000);
 *   await bot.close();
 *
 * Every wait is bounded. ICE uses one local address, 127.0.0.1 by default (`address`). Bot
 * processes should call `disableWeriftDefaultStun()` (rtc.mjs) first: werift otherwise asks
 * stun.l.google.com for server-reflexive candidates even with `iceServers: []`.
 */
import { EventEmitter } from 'node:events';
import WebSocket from 'ws';
import { RTCPeerConnection, peerConfig, usableCandidate, onlyCandidatesOn, addSyntheticMedia, receiveInto, whenConnected, LOOPBACK } from './rtc.mjs';
import { LatencyHistogram } from './media.mjs';

/** Fetches a dev-mode token from a Dari server (`GET /api/dev/token`), e.g. http://127.0.0.1:7880. */
export async function devToken(httpUrl, room, identity, timeoutMs = 5000) {
  const u = new URL('/api/dev/token', httpUrl);
  u.searchParams.set('room', room);
  u.searchParams.set('identity', identity);
  const res = await fetch(u, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${u.pathname}: ${res.status} ${await res.text()}`);
  return (await res.json()).token;
}

export class DariBot extends EventEmitter {
  /**
   * @param {object} o
   * @param {string} o.url WebSocket URL of the signaling endpoint, ws://HOST:PORT/rtc
   * @param {string} o.token access token (JWT) for the room
   * @param {string} [o.address] the only local address for ICE (default 127.0.0.1)
   * @param {LatencyHistogram} [o.latency] histogram shared by this bot's receive stats
   */
  constructor({ url, token, address = LOOPBACK, latency = new LatencyHistogram() }) {
    super();
    this.url = url;
    this.token = token;
    this.address = address;
    this.latency = latency;
    this.ws = null;
    this.joined = null;
    this.publisherPc = null;
    this.subscriberPc = null;
    /** Receive stats of every forwarded track, in arrival order. */
    this.streams = [];
    /** True once the subscriber leg connected ({@link subscriberConnected}). */
    this.subscribed = false;
    this.closed = false;
    this.errors = [];
    this.queue = Promise.resolve(); // sfu-sdp handling, in order
  }

  /** Opens the WebSocket and joins; resolves with the `joined` message. */
  connect(timeoutMs = 10_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error(`no joined after ${timeoutMs} ms`)), timeoutMs);
      const fail = (err) => {
        clearTimeout(timer);
        reject(err);
      };
      const ws = (this.ws = new WebSocket(this.url, { perMessageDeflate: false, handshakeTimeout: timeoutMs }));
      ws.on('error', (err) => (this.joined ? this.errors.push(err.message) : fail(err)));
      ws.on('close', (code) => {
        if (!this.joined) fail(new Error(`WebSocket closed (${code}) before joined`));
        this.emit('ws-close', code);
      });
      ws.on('open', () => this.send({ type: 'join', v: 1, token: this.token }));
      ws.on('message', (data) => {
        let m;
        try {
          m = JSON.parse(data.toString());
        } catch {
          return;
        }
        if (m.type === 'joined') {
          clearTimeout(timer);
          this.joined = m;
          if (m.mode !== 'sfu') return reject(new Error(`room mode is ${m.mode}, not sfu`));
          resolve(m);
        } else if (m.type === 'error') {
          this.errors.push(`${m.code}: ${m.message}`);
          if (!this.joined) fail(new Error(`${m.code}: ${m.message}`));
        } else if (m.type === 'closing') {
          this.errors.push(`closing: ${m.reason}`);
        } else if (m.type === 'sfu-sdp') {
          this.queue = this.queue.then(() => this.onDescription(m.pc, m.description)).catch((err) => this.errors.push(`sfu-sdp ${m.pc}: ${err.message}`));
        } else if (m.type === 'sfu-candidate') {
          this.queue = this.queue.then(() => this.onCandidate(m.pc, m.candidate)).catch((err) => this.errors.push(`sfu-candidate ${m.pc}: ${err.message}`));
        }
      });
    });
  }

  send(message) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** Wires candidate trickling of one leg. */
  wire(pc, leg) {
    pc.onIceCandidate.subscribe((c) => {
      if (!c) return;
      const json = c.toJSON();
      if (usableCandidate(json, this.address)) this.send({ type: 'sfu-candidate', pc: leg, candidate: json });
    });
  }

  /**
   * Publishes synthetic VP8 + Opus on the publisher leg (we offer) and starts sending once
   * connected. Resolves with the {@link SyntheticPublisher}.
   */
  async publish({ media = {}, timeoutMs = 15_000, streamId = 'bench' } = {}) {
    const pc = (this.publisherPc = new RTCPeerConnection(peerConfig({ address: this.address })));
    this.wire(pc, 'publisher');
    const added = addSyntheticMedia(pc, media, streamId);
    this.media = added.publisher;
    await pc.setLocalDescription(await pc.createOffer());
    this.send({ type: 'sfu-sdp', pc: 'publisher', description: { type: 'offer', sdp: onlyCandidatesOn(pc.localDescription.sdp, this.address) } });
    await whenConnected(pc, timeoutMs, 'publisher leg');
    added.publisher.start();
    return added.publisher;
  }

  async onDescription(leg, description) {
    if (this.closed) return;
    if (leg === 'publisher') {
      if (description.type === 'answer' && this.publisherPc) await this.publisherPc.setRemoteDescription(description);
      return;
    }
    if (description.type !== 'offer') return;
    if (!this.subscriberPc) {
      const pc = (this.subscriberPc = new RTCPeerConnection(peerConfig({ address: this.address })));
      this.wire(pc, 'subscriber');
      pc.ontrack = (ev) => {
        const stats = receiveInto(ev.track, this.latency);
        this.streams.push(stats);
        this.emit('track', ev.track, stats);
      };
      pc.connectionStateChange.subscribe((s) => this.emit('subscriber-state', s));
    }
    const pc = this.subscriberPc;
    await pc.setRemoteDescription(description);
    await pc.setLocalDescription(await pc.createAnswer());
    this.send({ type: 'sfu-sdp', pc: 'subscriber', description: { type: 'answer', sdp: onlyCandidatesOn(pc.localDescription.sdp, this.address) } });
  }

  async onCandidate(leg, candidate) {
    if (this.closed || !usableCandidate(candidate, this.address)) return;
    const pc = leg === 'publisher' ? this.publisherPc : this.subscriberPc;
    if (pc) await pc.addIceCandidate(candidate);
  }

  /** Resolves once the subscriber leg exists and is connected. */
  async subscriberConnected(timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    while (!this.subscriberPc) {
      if (Date.now() > deadline) throw new Error(`no subscriber offer from the SFU after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await whenConnected(this.subscriberPc, Math.max(1, deadline - Date.now()), 'subscriber leg');
    this.subscribed = true;
  }

  /** Leaves the room and closes both legs (bounded). */
  async close(timeoutMs = 3000) {
    if (this.closed) return;
    this.closed = true;
    this.media?.stop();
    this.send({ type: 'leave' });
    const pcs = [this.publisherPc, this.subscriberPc].filter(Boolean);
    await Promise.race([Promise.allSettled(pcs.map((pc) => pc.close())), new Promise((r) => setTimeout(r, timeoutMs))]);
    this.ws?.terminate();
  }
}
