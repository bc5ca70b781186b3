/**
 * A werift client for Janus's VideoRoom plugin over the Janus WebSocket API
 * (subprotocol `janus-protocol`; https://janus.conf.meetecho.com/docs/rest.html and
 * https://janus.conf.meetecho.com/docs/videoroom.html), the anchor of bench/sfu/run.mjs.
 *
 * One {@link JanusSession} (one WebSocket, one Janus session, keep-alives every 15 s) holds any
 * number of plugin handles; each publisher or subscriber is one handle and one werift peer
 * connection:
 *
 *   const s = await JanusSession.open('ws://127.0.0.1:8188');
 *   const room = await createRoom(s, 1234);
 *   const pub = await publishSynthetic(s, room);          // {feedId, media, pc}
 *   const sub = await subscribe(s, room, pub.feedId);     // {pc, streams}
 *
 * Janus sends its own candidates inside its SDP (half-trickle, its default); ours are trickled.
 *
 * Why not 127.0.0.1: Janus 1.1.2 never gathers loopback interfaces (src/ice.c skips
 * IFF_LOOPBACK), and its libnice pins every ICE socket to the gathered interface with
 * IP_UNICAST_IF (seen with strace: `setsockopt(fd, SOL_IP, IP_UNICAST_IF, <eth0>)`), so its
 * packets to 127.0.0.1 leave through eth0 and never come back. The bot therefore binds its ICE
 * sockets to the machine's own non-loopback address ({@link hostAddress}, the one Janus
 * gathers); packets between two local addresses are still delivered inside the kernel (checked:
 * eth0's tx counter does not move). Every wait is bounded.
 */
import WebSocket from 'ws';
import { RTCPeerConnection, peerConfig, usableCandidate, onlyCandidatesOn, addSyntheticMedia, receiveInto, whenConnected, hostAddress } from './rtc.mjs';

let txCounter = 0;
const tx = () => `t${++txCounter}`;

export class JanusSession {
  constructor(ws) {
    this.ws = ws;
    this.pending = new Map(); // transaction → {resolve, reject, timer, wantEvent}
    this.handles = new Map(); // handle id → JanusHandle
    this.id = null;
    this.errors = [];
    this.keepalive = null;
    ws.on('message', (data) => this.onMessage(JSON.parse(data.toString())));
    ws.on('close', () => {
      clearInterval(this.keepalive);
      for (const p of this.pending.values()) {
        clearTimeout(p.timer);
        p.reject(new Error('Janus WebSocket closed'));
      }
      this.pending.clear();
    });
    ws.on('error', (err) => this.errors.push(err.message));
  }

  /** Connects and creates a Janus session. */
  static async open(url, timeoutMs = 10_000) {
    const ws = new WebSocket(url, 'janus-protocol', { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Janus WebSocket ${url}: no open after ${timeoutMs} ms`)), timeoutMs);
      ws.once('open', () => {
        clearTimeout(timer);
        resolve();
      });
      ws.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const s = new JanusSession(ws);
    const r = await s.request({ janus: 'create' }, timeoutMs);
    s.id = r.data.id;
    s.keepalive = setInterval(() => s.send({ janus: 'keepalive', session_id: s.id, transaction: tx() }), 15_000);
    s.keepalive.unref();
    return s;
  }

  send(msg) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  /**
   * Sends a request and resolves with its answer: `success` for synchronous requests, the plugin
   * `event` for asynchronous ones (the `ack` in between is skipped). Janus and plugin errors reject.
   */
  request(msg, timeoutMs = 10_000) {
    const transaction = tx();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(transaction);
        reject(new Error(`Janus ${msg.janus} ${msg.body?.request ?? ''}: no answer after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(transaction, { resolve, reject, timer, msg });
      this.send({ ...msg, transaction, ...(this.id !== null && msg.session_id === undefined && msg.janus !== 'create' ? { session_id: this.id } : {}) });
    });
  }

  onMessage(m) {
    const p = m.transaction ? this.pending.get(m.transaction) : undefined;
    if (p) {
      if (m.janus === 'ack' && p.msg.janus === 'message') return; // the plugin's event follows
      clearTimeout(p.timer);
      this.pending.delete(m.transaction);
      if (m.janus === 'error') return p.reject(new Error(`Janus error ${m.error?.code}: ${m.error?.reason}`));
      const data = m.plugindata?.data;
      if (data?.error) return p.reject(new Error(`VideoRoom error ${data.error_code}: ${data.error}`));
      return p.resolve(m);
    }
    const h = m.sender !== undefined ? this.handles.get(m.sender) : undefined;
    if (h) h.onEvent(m);
  }

  async attach(plugin = 'janus.plugin.videoroom', timeoutMs = 10_000) {
    const r = await this.request({ janus: 'attach', plugin }, timeoutMs);
    const h = new JanusHandle(this, r.data.id);
    this.handles.set(h.id, h);
    return h;
  }

  async close(timeoutMs = 3000) {
    clearInterval(this.keepalive);
    if (this.ws.readyState === WebSocket.OPEN && this.id !== null) {
      await this.request({ janus: 'destroy' }, timeoutMs).catch(() => undefined);
    }
    this.ws.terminate();
  }
}

export class JanusHandle {
  constructor(session, id) {
    this.session = session;
    this.id = id;
    this.events = [];
    this.seen = new Set();
    this.waiters = [];
  }

  /** A plugin message (optionally with a JSEP); resolves with Janus's answer (see request()). */
  message(body, jsep, timeoutMs = 10_000) {
    return this.session.request({ janus: 'message', handle_id: this.id, body, ...(jsep ? { jsep } : {}) }, timeoutMs);
  }

  trickle(candidate) {
    this.session.send({ janus: 'trickle', session_id: this.session.id, handle_id: this.id, transaction: tx(), candidate });
  }

  /** Resolves when Janus sends `janus: <name>` (e.g. webrtcup) for this handle, or rejects after `timeoutMs`. */
  waitFor(name, timeoutMs = 10_000) {
    if (this.seen.has(name)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`Janus handle ${this.id}: no ${name} after ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ name, resolve: () => (clearTimeout(timer), resolve()) });
    });
  }

  onEvent(m) {
    this.seen.add(m.janus);
    for (const w of this.waiters.splice(0)) {
      if (w.name === m.janus) w.resolve();
      else this.waiters.push(w);
    }
    if (this.events.length < 50) this.events.push(m.janus === 'event' ? m.plugindata?.data : { janus: m.janus, ...(m.reason ? { reason: m.reason } : {}) });
  }

  /** Trickles our candidates on `address` and the end of candidates. */
  wire(pc, address) {
    pc.onIceCandidate.subscribe((c) => {
      if (!c) return this.trickle({ completed: true });
      const json = c.toJSON();
      if (usableCandidate(json, address)) this.trickle({ candidate: json.candidate, sdpMid: json.sdpMid, sdpMLineIndex: json.sdpMLineIndex });
    });
  }
}

/** Creates a VideoRoom room for one VP8 + Opus publisher; resolves with its id. */
export async function createRoom(session, room, options = {}) {
  const h = await session.attach();
  await h.message({
    request: 'create',
    room,
    description: 'dari-bench',
    publishers: 1,
    bitrate: 0,
    fir_freq: 0,
    audiocodec: 'opus',
    videocodec: 'vp8',
    notify_joining: false,
    audiolevel_ext: false,
    audiolevel_event: false,
    videoorient_ext: false,
    playoutdelay_ext: false,
    transport_wide_cc_ext: false,
    permanent: false,
    ...options,
  });
  return room;
}

/** Joins `room` as publisher and publishes synthetic VP8 + Opus; starts sending once connected. */
export async function publishSynthetic(session, room, { media = {}, address = hostAddress(), timeoutMs = 15_000 } = {}) {
  const h = await session.attach();
  const joined = await h.message({ request: 'join', ptype: 'publisher', room, display: 'bench-publisher' }, undefined, timeoutMs);
  const feedId = joined.plugindata.data.id;
  const pc = new RTCPeerConnection(peerConfig({ address }));
  h.wire(pc, address);
  const added = addSyntheticMedia(pc, media, 'bench');
  await pc.setLocalDescription(await pc.createOffer());
  const r = await h.message({ request: 'publish', audio: true, video: true }, { type: 'offer', sdp: onlyCandidatesOn(pc.localDescription.sdp, address) }, timeoutMs);
  if (!r.jsep) throw new Error(`VideoRoom publish: no answer (${JSON.stringify(r.plugindata?.data)})`);
  await pc.setRemoteDescription(r.jsep);
  await whenConnected(pc, timeoutMs, 'Janus publisher');
  added.publisher.start();
  await h.waitFor('webrtcup', timeoutMs); // subscribers get 428 "No such feed" before that
  return { handle: h, feedId, pc, media: added.publisher };
}

/**
 * Subscribes to `feedId` in `room` (VideoRoom `join` as subscriber → Janus's offer → our
 * answer in `start`). Resolves once the peer connection is connected, with its receive stats.
 */
export async function subscribe(session, room, feedId, { latency, address = hostAddress(), timeoutMs = 15_000 } = {}) {
  const h = await session.attach();
  const r = await h.message({ request: 'join', ptype: 'subscriber', room, streams: [{ feed: feedId }] }, undefined, timeoutMs);
  if (!r.jsep) throw new Error(`VideoRoom subscribe: no offer (${JSON.stringify(r.plugindata?.data)})`);
  const pc = new RTCPeerConnection(peerConfig({ address }));
  const streams = [];
  pc.ontrack = (ev) => streams.push(receiveInto(ev.track, latency));
  h.wire(pc, address);
  await pc.setRemoteDescription(r.jsep);
  await pc.setLocalDescription(await pc.createAnswer());
  await h.message({ request: 'start', room }, { type: 'answer', sdp: onlyCandidatesOn(pc.localDescription.sdp, address) }, timeoutMs);
  await whenConnected(pc, timeoutMs, 'Janus subscriber');
  return { handle: h, pc, streams };
}
