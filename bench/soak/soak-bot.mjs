/**
 * A werift participant for the soak (bench/soak/run.mjs) that follows a room through its
 * topology changes as the SDK does, in the parts the server sees (docs/protocol.md):
 * - `p2p`: full mesh; the newcomer offers to everyone already there (`sdp`/`candidate`), and
 *   each link carries a data channel for file transfers (SHA-256 checked by the receiver).
 * - `sfu`: a publisher leg (we offer synthetic VP8 + Opus) and a subscriber leg (the SFU
 *   offers); back to `p2p`, the legs close and `sfu-leave` frees them on the server. Mesh links
 *   stay (files go P2P in SFU rooms too).
 * Every wait is bounded; errors are collected in `errors`, never thrown from event handlers.
 */
import { createHash, randomBytes } from 'node:crypto';
import WebSocket from 'ws';
import { RTCPeerConnection, peerConfig, usableCandidate, onlyCandidatesOn, addSyntheticMedia, whenConnected } from '../sfu/rtc.mjs';

const CHUNK_BYTES = 16 * 1024;

export class SoakBot {
  /**
   * @param {object} o
   * @param {string} o.url signaling WebSocket URL, ws://HOST:PORT/rtc
   * @param {string} o.token access token for the room
   * @param {string} o.identity the token's identity
   */
  constructor({ url, token, identity }) {
    this.url = url;
    this.token = token;
    this.identity = identity;
    this.ws = null;
    this.mode = null;
    /** Mesh links by remote identity: { pc, dc, waiters }. */
    this.mesh = new Map();
    this.publisherPc = null;
    this.subscriberPc = null;
    this.media = null;
    this.errors = [];
    this.closed = false;
    this.queue = Promise.resolve();
    /** Files received: { from, bytes, ok }. */
    this.received = [];
  }

  /** Opens the WebSocket and joins; resolves with `joined`. */
  connect(timeoutMs = 10_000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.identity}: no joined after ${timeoutMs} ms`)), timeoutMs);
      const ws = (this.ws = new WebSocket(this.url, { perMessageDeflate: false, handshakeTimeout: timeoutMs }));
      ws.on('error', (err) => this.errors.push(`ws: ${err.message}`));
      ws.on('close', () => clearTimeout(timer));
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
          resolve(m);
        }
        this.queue = this.queue.then(() => this.onMessage(m)).catch((err) => this.errors.push(`${m.type}: ${err.message}`));
      });
    });
  }

  send(message) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  async onMessage(m) {
    if (this.closed) return;
    switch (m.type) {
      case 'joined':
        this.mode = m.mode;
        if (m.mode === 'sfu') await this.startSfu();
        for (const p of m.participants) await this.offerTo(p.identity);
        break;
      case 'participant-left':
        this.closeLink(m.identity);
        break;
      case 'room-mode':
        if (m.mode === this.mode) break;
        this.mode = m.mode;
        if (m.mode === 'sfu') await this.startSfu();
        else await this.stopSfu();
        break;
      case 'sdp':
        await this.onMeshDescription(m.from, m.description);
        break;
      case 'candidate': {
        const link = this.mesh.get(m.from);
        if (link && m.candidate && usableCandidate(m.candidate)) await link.pc.addIceCandidate(m.candidate);
        break;
      }
      case 'sfu-sdp':
        await this.onSfuDescription(m.pc, m.description);
        break;
      case 'sfu-candidate': {
        const pc = m.pc === 'publisher' ? this.publisherPc : this.subscriberPc;
        // A candidate for a leg that closed (back to P2P) or for an offer not applied yet is a
        // race, not a failure: the legs' connection states tell whether they work.
        if (pc && m.candidate && usableCandidate(m.candidate)) await pc.addIceCandidate(m.candidate).catch(() => undefined);
        break;
      }
      case 'error':
        this.errors.push(`${m.code}: ${m.message}`);
        break;
    }
  }

  // ------------------------------------------------------------------ mesh

  link(remote) {
    let link = this.mesh.get(remote);
    if (link) return link;
    const pc = new RTCPeerConnection(peerConfig());
    link = { pc, dc: null, opened: null };
    this.mesh.set(remote, link);
    pc.onIceCandidate.subscribe((c) => {
      if (c && usableCandidate(c.toJSON())) this.send({ type: 'candidate', to: remote, candidate: c.toJSON() });
    });
    pc.onDataChannel.subscribe((dc) => this.attachChannel(remote, link, dc));
    return link;
  }

  attachChannel(remote, link, dc) {
    link.dc = dc;
    link.opened = new Promise((resolve) => {
      if (dc.readyState === 'open') resolve();
      else dc.stateChanged.subscribe((s) => s === 'open' && resolve());
    });
    // Receiving: chunks, then "end:<sha256>"; we answer "ok" or "bad". Sending: waits for that answer.
    let hash = createHash('sha256');
    let bytes = 0;
    dc.onMessage.subscribe((data) => {
      if (typeof data !== 'string') {
        hash.update(data);
        bytes += data.length;
        return;
      }
      if (data.startsWith('end:')) {
        const ok = hash.digest('hex') === data.slice(4);
        this.received.push({ from: remote, bytes, ok });
        dc.send(ok ? 'ok' : 'bad');
        hash = createHash('sha256');
        bytes = 0;
      } else link.ack?.(data);
    });
  }

  async offerTo(remote) {
    const link = this.link(remote);
    this.attachChannel(remote, link, link.pc.createDataChannel('file'));
    await link.pc.setLocalDescription(await link.pc.createOffer());
    this.send({ type: 'sdp', to: remote, description: { type: 'offer', sdp: onlyCandidatesOn(link.pc.localDescription.sdp) } });
  }

  async onMeshDescription(from, description) {
    const link = this.link(from);
    await link.pc.setRemoteDescription(description);
    if (description.type !== 'offer') return;
    await link.pc.setLocalDescription(await link.pc.createAnswer());
    this.send({ type: 'sdp', to: from, description: { type: 'answer', sdp: onlyCandidatesOn(link.pc.localDescription.sdp) } });
  }

  closeLink(remote) {
    const link = this.mesh.get(remote);
    if (!link) return;
    this.mesh.delete(remote);
    void link.pc.close().catch(() => undefined);
  }

  /**
   * Sends `size` random bytes to `remote` over the mesh link's data channel (16 KiB chunks) and
   * waits for the receiver's SHA-256 verdict.
   * @throws Error when there is no open link, or no verdict within `timeoutMs`
   */
  async sendFile(remote, size, timeoutMs = 15_000) {
    const link = this.mesh.get(remote);
    if (!link?.dc) throw new Error(`${this.identity}: no mesh link to ${remote}`);
    const deadline = Date.now() + timeoutMs;
    await Promise.race([link.opened, new Promise((_, reject) => setTimeout(() => reject(new Error(`${this.identity} → ${remote}: data channel not open`)), timeoutMs))]);
    const file = randomBytes(size);
    const verdict = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${this.identity} → ${remote}: no verdict within ${timeoutMs} ms`)), Math.max(1, deadline - Date.now()));
      link.ack = (answer) => {
        clearTimeout(t);
        link.ack = undefined;
        resolve(answer);
      };
    });
    for (let i = 0; i < file.length; i += CHUNK_BYTES) link.dc.send(file.subarray(i, i + CHUNK_BYTES));
    link.dc.send(`end:${createHash('sha256').update(file).digest('hex')}`);
    const answer = await verdict;
    if (answer !== 'ok') throw new Error(`${this.identity} → ${remote}: receiver's SHA-256 differs`);
  }

  // ------------------------------------------------------------------ SFU legs

  async startSfu(timeoutMs = 15_000) {
    if (this.publisherPc) return;
    const pc = (this.publisherPc = new RTCPeerConnection(peerConfig()));
    this.wireSfu(pc, 'publisher');
    const added = addSyntheticMedia(pc, { fps: 10 }, this.identity);
    this.media = added.publisher;
    await pc.setLocalDescription(await pc.createOffer());
    this.send({ type: 'sfu-sdp', pc: 'publisher', description: { type: 'offer', sdp: onlyCandidatesOn(pc.localDescription.sdp) } });
    whenConnected(pc, timeoutMs, `${this.identity} publisher leg`).then(
      () => this.media?.start(),
      (err) => this.publisherPc === pc && this.errors.push(err.message),
    );
  }

  async stopSfu() {
    this.media?.stop();
    this.media = null;
    const pcs = [this.publisherPc, this.subscriberPc].filter(Boolean);
    this.publisherPc = null;
    this.subscriberPc = null;
    await Promise.allSettled(pcs.map((pc) => pc.close()));
    this.send({ type: 'sfu-leave' });
  }

  wireSfu(pc, leg) {
    pc.onIceCandidate.subscribe((c) => {
      if (c && usableCandidate(c.toJSON())) this.send({ type: 'sfu-candidate', pc: leg, candidate: c.toJSON() });
    });
  }

  async onSfuDescription(leg, description) {
    if (leg === 'publisher') {
      if (description.type === 'answer' && this.publisherPc) await this.publisherPc.setRemoteDescription(description);
      return;
    }
    if (description.type !== 'offer' || this.mode !== 'sfu') return;
    if (!this.subscriberPc) {
      this.subscriberPc = new RTCPeerConnection(peerConfig());
      this.wireSfu(this.subscriberPc, 'subscriber');
    }
    const pc = this.subscriberPc;
    await pc.setRemoteDescription(description);
    await pc.setLocalDescription(await pc.createAnswer());
    this.send({ type: 'sfu-sdp', pc: 'subscriber', description: { type: 'answer', sdp: onlyCandidatesOn(pc.localDescription.sdp) } });
  }

  /** Resolves when the SFU legs are connected (the subscriber leg once the SFU offered one). */
  async sfuConnected(timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    while (!this.publisherPc || !this.subscriberPc) {
      if (Date.now() > deadline) throw new Error(`${this.identity}: SFU legs not set up within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await whenConnected(this.publisherPc, Math.max(1, deadline - Date.now()), `${this.identity} publisher leg`);
    await whenConnected(this.subscriberPc, Math.max(1, deadline - Date.now()), `${this.identity} subscriber leg`);
  }

  /** Leaves the room and closes every connection (bounded). */
  async close(timeoutMs = 3000) {
    if (this.closed) return;
    this.closed = true;
    this.media?.stop();
    this.send({ type: 'leave' });
    const pcs = [this.publisherPc, this.subscriberPc, ...[...this.mesh.values()].map((l) => l.pc)].filter(Boolean);
    this.mesh.clear();
    await Promise.race([Promise.allSettled(pcs.map((pc) => pc.close())), new Promise((r) => setTimeout(r, timeoutMs))]);
    this.ws?.terminate();
  }
}
