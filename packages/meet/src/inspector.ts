/**
 * Connection inspector: a dialog (`#inspector[data-identity]`, side panel on desktop, bottom
 * sheet on phones) with the live details of one remote participant's peer connection, from
 * `room.getConnectionInfo(identity)` polled every second while it is open.
 *
 *   #insp-state, #insp-path[data-path], #insp-why, #insp-local, #insp-remote
 *   #insp-rtt, #insp-bitrate-in, #insp-bitrate-out, #insp-loss, #insp-codec, #insp-resolution
 *   #insp-local-candidates li, #insp-remote-candidates li (li.selected = in the selected pair)
 *
 * When the participant leaves, polling stops and `#inspector[data-state="left"]` keeps the
 * last figures. Text is set with textContent only. The composite tile opens it on the connection
 * to the server ({@link COMPOSITE_TARGET}: the SFU leg every participant's media comes over).
 */
import type { CandidateInfo, ConnectionInfo, Room } from '@dari/client';
import { byId, h } from './dom.js';
import { formatRate } from './conn-indicator.js';
import { COMPOSITE_TARGET } from './grid.js';

export const INSPECT_MS = 1000;

/** What {@link explainPath} needs from a ConnectionInfo. */
export type PathFacts = Pick<ConnectionInfo, 'path' | 'local' | 'remote' | 'connectionState' | 'iceConnectionState'> & Partial<Pick<ConnectionInfo, 'via' | 'mediaPath'>>;

const isReflexive = (c: CandidateInfo | undefined) => c?.type === 'srflx' || c?.type === 'prflx';

/** One line on why the selected candidate pair was needed. Pure: no DOM, no clock. */
export function explainPath(info: PathFacts): string {
  if (info.connectionState === 'failed' || info.iceConnectionState === 'failed') return 'Connection failed.';
  const { local, remote } = info;
  if (info.path === 'none' || !local || !remote) return info.connectionState === 'closed' ? 'Connection closed.' : 'Connecting…';
  if (info.via === 'sfu' && info.mediaPath?.path === 'mcu') {
    const relayed = local.type === 'relay' ? ' (relayed through TURN)' : '';
    return `MCU room: you send your camera and microphone once to the server${relayed}, and receive one video, the composite of everyone, and one audio mix of everyone but you.`;
  }
  if (info.via === 'sfu' && info.mediaPath) {
    const why = fallbackText(info.mediaPath);
    if (why) return why;
  }
  if (info.via === 'sfu') {
    const proto = local.relayProtocol?.toLowerCase();
    if (local.type === 'relay' && (proto === 'tcp' || proto === 'tls')) return `Through the server (SFU), relayed over ${proto.toUpperCase()}: UDP is blocked on your network.`;
    if (local.type === 'relay') return 'Through the server (SFU), relayed: your network does not allow a direct path to it.';
    return 'Through the server (SFU): with three or more people, everyone sends once to the server.';
  }
  if (local.type === 'relay') {
    const proto = local.relayProtocol?.toLowerCase();
    if (proto === 'tcp' || proto === 'tls') return `Relayed over ${proto.toUpperCase()}: UDP is blocked on your network.`;
    return 'Relayed: your network or theirs does not allow direct connections.';
  }
  if (remote.type === 'relay') return 'Relayed: their network does not allow direct connections.';
  if (local.type === 'host' && remote.type === 'host') return 'Direct on your local network.';
  if (isReflexive(local) || isReflexive(remote)) return 'Direct through your NAT (found with STUN).';
  return 'Direct connection.';
}

const kbps = (bps: number | undefined) => (bps === undefined ? undefined : `${Math.round(bps / 1000)} kbps`);

/**
 * Why we get the composite fallback (or came back from it), from the server's `media-path`
 * reason (docs/protocol.md); undefined when the path is the plain SFU one.
 */
export function fallbackText(m: NonNullable<ConnectionInfo['mediaPath']>): string | undefined {
  const est = kbps(m.estimateBps);
  const need = kbps(m.needBps);
  const figures = est && need ? ` (estimate ${est}, the videos need ${need} at their lowest quality)` : '';
  if (m.path === 'composite-fallback') {
    const probe = m.reason === 'probe-failed' ? ' It tried the separate videos again and the connection could not carry them.' : '';
    return `Composite fallback: your connection cannot carry the others' videos even at their lowest quality${figures}, so the server sends you one composite video of everyone instead; you still hear everyone's own audio.${probe} The separate videos come back when your connection recovers.`;
  }
  if (m.path !== 'sfu') return undefined;
  if (m.reason === 'composite-unavailable' && !figures) return 'Through the server (SFU): this room is an MCU room, but the server cannot run its composite now (no GStreamer or no free media worker), so you get the separate videos.';
  if (m.reason === 'composite-unavailable') return `Through the server (SFU): your connection is too weak for the others' videos${figures}, but the server cannot make a composite for you now (no media worker), so you keep the separate videos.`;
  if (m.reason === 'composite-failed') return 'Through the server (SFU): the composite you received stopped working, so you get the separate videos again.';
  if (m.reason === 'estimate-recovered') return `Through the server (SFU): your connection recovered${figures}, so you get the separate videos again instead of the composite.`;
  if (m.reason === 'probe') return 'Through the server (SFU): trying the separate videos again after the composite fallback; you go back to the composite if your connection cannot carry them.';
  return undefined;
}

/** "Direct (P2P)", "Relayed through TURN", or the state when there is no selected pair. */
export function pathText(info: PathFacts): string {
  if (info.via === 'sfu' && info.path !== 'none' && info.mediaPath?.path === 'mcu') return info.path === 'relay' ? 'MCU, relayed through TURN' : 'Through the MCU';
  if (info.via === 'sfu' && info.path !== 'none' && info.mediaPath?.path === 'composite-fallback') return info.path === 'relay' ? 'SFU composite fallback, relayed through TURN' : 'SFU, composite fallback';
  if (info.via === 'sfu' && info.path !== 'none') return info.path === 'relay' ? 'SFU, relayed through TURN' : 'Through the SFU';
  if (info.path === 'direct') return 'Direct (P2P)';
  if (info.path === 'relay') return 'Relayed through TURN';
  return info.connectionState === 'failed' || info.iceConnectionState === 'failed' ? 'No connection' : 'Not connected yet';
}

/** `1.2.3.4:5`, `[::1]:5`; "hidden" when the browser withholds the address. */
export function endpoint(c: CandidateInfo): string {
  const addr = c.address ? (c.address.includes(':') ? `[${c.address}]` : c.address) : 'hidden';
  return c.port ? `${addr}:${c.port}` : addr;
}

/** "relay · UDP · TURN over TLS · 203.0.113.7:49152". */
export function describeCandidate(c: CandidateInfo): string {
  const parts = [c.type, c.protocol.toUpperCase()];
  if (c.type === 'relay' && c.relayProtocol) parts.push(`TURN over ${c.relayProtocol.toUpperCase()}`);
  parts.push(endpoint(c));
  return parts.join(' · ');
}

const candidateKey = (c: CandidateInfo) => `${c.type}|${c.protocol}|${c.address}|${c.port}|${c.relayProtocol ?? ''}`;
const TYPE_ORDER = ['host', 'srflx', 'prflx', 'relay'];
const typeRank = (t: string) => (TYPE_ORDER.includes(t) ? TYPE_ORDER.indexOf(t) : TYPE_ORDER.length);

/** Identical entries removed, ordered host, srflx, prflx, relay (stable between polls). */
export function uniqueCandidates(list: readonly CandidateInfo[]): CandidateInfo[] {
  const seen = new Map<string, CandidateInfo>();
  for (const c of list) if (!seen.has(candidateKey(c))) seen.set(candidateKey(c), c);
  return [...seen.values()].sort((a, b) => typeRank(a.type) - typeRank(b.type) || candidateKey(a).localeCompare(candidateKey(b)));
}

/** Packets lost as a share of received + lost, "0.4 %"; "—" before any packet. */
export function lossText(m: { packetsLost: number; packetsReceived: number } | undefined): string {
  const lost = Math.max(0, m?.packetsLost ?? 0);
  const total = lost + (m?.packetsReceived ?? 0);
  return total > 0 ? `${((lost / total) * 100).toFixed(1)} %` : '—';
}

const codecName = (mime: string | undefined) => mime?.replace(/^(video|audio)\//i, '');

/** Sets text (and an attribute) only when they changed: no needless screen-reader updates. */
function put(el: HTMLElement, text: string, attr?: [string, string]): void {
  if (el.textContent !== text) el.textContent = text;
  if (attr && el.getAttribute(attr[0]) !== attr[1]) el.setAttribute(attr[0], attr[1]);
}

export class Inspector {
  private readonly panel = byId('inspector');
  private readonly title = byId('inspector-title');
  private readonly closeButton = byId<HTMLButtonElement>('close-inspector');
  private readonly el = {
    state: byId('insp-state'),
    path: byId('insp-path'),
    why: byId('insp-why'),
    local: byId('insp-local'),
    remote: byId('insp-remote'),
    rtt: byId('insp-rtt'),
    bitrateIn: byId('insp-bitrate-in'),
    bitrateOut: byId('insp-bitrate-out'),
    loss: byId('insp-loss'),
    codec: byId('insp-codec'),
    resolution: byId('insp-resolution'),
    localCandidates: byId<HTMLUListElement>('insp-local-candidates'),
    remoteCandidates: byId<HTMLUListElement>('insp-remote-candidates'),
  };
  private room: Room | null = null;
  private identity: string | null = null;
  private name = '';
  private opener: HTMLElement | null = null;
  private timer: ReturnType<typeof setInterval> | null = null;
  private polling = false;
  private lastLists = '';

  /** @param onTarget called with the inspected identity, or null when the panel closes */
  constructor(private readonly onTarget: (identity: string | null) => void) {
    this.closeButton.addEventListener('click', () => this.close());
    document.addEventListener('keydown', (ev) => {
      // Escape inside the chat panel closes the chat only.
      if (ev.key !== 'Escape' || this.panel.hidden || (ev.target instanceof Element && ev.target.closest('#chat'))) return;
      this.close();
    });
  }

  get openFor(): string | null {
    return this.panel.hidden ? null : this.identity;
  }

  attach(room: Room): void {
    this.close();
    this.room = room;
  }

  /** Closes the panel and forgets the room (on leaving). */
  detach(): void {
    this.close();
    this.room = null;
  }

  /** The tile button: opens for this participant, or closes when already open for them. */
  toggle(identity: string, opener?: HTMLElement): void {
    if (this.openFor === identity) this.close();
    else this.open(identity, opener);
  }

  open(identity: string, opener?: HTMLElement): void {
    if (!this.room) return;
    this.stopTimer();
    this.identity = identity;
    this.opener = opener ?? null;
    this.panel.dataset['identity'] = identity;
    this.reset();
    this.panel.hidden = false;
    this.onTarget(identity);
    this.closeButton.focus();
    if (this.room.remoteParticipants.has(identity) || identity === COMPOSITE_TARGET) this.startTimer();
    else this.showLeft();
  }

  close(): void {
    this.stopTimer();
    if (this.panel.hidden) return;
    this.panel.hidden = true;
    this.identity = null;
    delete this.panel.dataset['identity'];
    delete this.panel.dataset['state'];
    this.onTarget(null);
    // Back to the tile's button, unless focus already went elsewhere or the tile is gone.
    const active = document.activeElement;
    if (this.opener?.isConnected && (!active || active === document.body || this.panel.contains(active))) this.opener.focus();
    this.opener = null;
  }

  participantLeft(identity: string): void {
    if (this.openFor === identity) this.showLeft();
  }

  /** The same identity came back (rejoined): resume. */
  participantJoined(identity: string): void {
    if (this.openFor === identity && !this.timer) {
      delete this.panel.dataset['state'];
      this.startTimer();
    }
  }

  private startTimer(): void {
    this.timer = setInterval(() => void this.poll(), INSPECT_MS);
    void this.poll();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private async poll(): Promise<void> {
    const room = this.room;
    const identity = this.identity;
    if (!room || !identity || this.polling) return;
    this.polling = true;
    try {
      // The composite comes over the SFU leg that carries everyone's media: any participant's entry.
      const [info] = identity === COMPOSITE_TARGET ? (await room.getConnectionInfo()).filter((i) => i.via === 'sfu') : await room.getConnectionInfo(identity);
      // Closed, switched to someone else, left or detached while getStats() ran.
      if (this.room !== room || this.identity !== identity || !this.timer) return;
      this.render(room, identity, info);
    } catch (err) {
      console.warn('[meet] inspector: getConnectionInfo failed', err);
    } finally {
      this.polling = false;
    }
  }

  private setName(name: string): void {
    this.name = name;
    put(this.title, this.identity === COMPOSITE_TARGET ? 'Connection to the server' : `Connection to ${name}`);
  }

  /** Blank figures for a newly opened participant. */
  private reset(): void {
    const p = this.room?.remoteParticipants.get(this.identity ?? '');
    this.setName(p?.name || this.identity || '');
    this.render(null, '', undefined);
  }

  private showLeft(): void {
    this.stopTimer();
    this.panel.dataset['state'] = 'left';
    put(this.el.state, 'left', ['data-state', 'left']);
    put(this.el.path, 'Disconnected', ['data-path', 'none']);
    put(this.el.why, `${this.name} left the meeting.`);
  }

  /** @param info undefined when there is no peer connection (yet) */
  private render(room: Room | null, identity: string, info: ConnectionInfo | undefined): void {
    const p = room?.remoteParticipants.get(identity);
    if (p) this.setName(p.name || identity);
    const facts: PathFacts = info ?? { path: 'none', connectionState: 'new', iceConnectionState: 'new' };
    const { el } = this;
    put(el.state, facts.connectionState, ['data-state', facts.connectionState]);
    el.state.title = `ICE: ${facts.iceConnectionState}`;
    put(el.path, pathText(facts), ['data-path', facts.path]);
    put(el.why, explainPath(facts));
    put(el.local, info?.local ? describeCandidate(info.local) : '—');
    put(el.remote, info?.remote ? describeCandidate(info.remote) : '—');
    put(el.rtt, info?.rttMs !== undefined ? `${Math.round(info.rttMs)} ms` : '—');
    put(el.bitrateIn, info ? formatRate(info.bitrateInBps) : '—');
    put(el.bitrateOut, info ? formatRate(info.bitrateOutBps) : '—');
    put(el.loss, info?.video || info?.audio ? `video ${lossText(info.video)} · audio ${lossText(info.audio)}` : '—');
    const codecs = [codecName(info?.video?.codec), codecName(info?.audio?.codec)];
    put(el.codec, codecs.some(Boolean) ? `video ${codecs[0] ?? '—'} · audio ${codecs[1] ?? '—'}` : '—');
    const v = info?.video;
    const fps = v?.framesPerSecond !== undefined ? ` · ${Math.round(v.framesPerSecond)} fps` : '';
    // The composite tile: the composite video's own size (the entry's inbound media is a participant's, none in an MCU room).
    const composite = identity === COMPOSITE_TARGET ? room?.composite.video?.getSettings() : undefined;
    const size = v?.width && v.height ? `${v.width}×${v.height}${fps}` : composite?.width && composite.height ? `composite ${composite.width}×${composite.height}` : 'No video';
    put(el.resolution, size);
    this.renderCandidates(info);
  }

  private renderCandidates(info: ConnectionInfo | undefined): void {
    const local = uniqueCandidates(info?.localCandidates ?? []);
    const remote = uniqueCandidates(info?.remoteCandidates ?? []);
    const selected = [info?.local, info?.remote].map((c) => (c ? candidateKey(c) : ''));
    const signature = JSON.stringify([local.map(candidateKey), remote.map(candidateKey), selected]);
    if (signature === this.lastLists) return; // unchanged: keep the DOM (and any text selection)
    this.lastLists = signature;
    this.el.localCandidates.replaceChildren(...this.items(local, selected[0] ?? ''));
    this.el.remoteCandidates.replaceChildren(...this.items(remote, selected[1] ?? ''));
  }

  private items(list: CandidateInfo[], selectedKey: string): HTMLLIElement[] {
    if (list.length === 0) return [h('li', { class: 'insp-empty' }, 'None yet')];
    return list.map((c) => {
      const on = candidateKey(c) === selectedKey;
      const proto = c.type === 'relay' && c.relayProtocol ? `${c.protocol.toUpperCase()} · TURN/${c.relayProtocol.toUpperCase()}` : c.protocol.toUpperCase();
      const li = h(
        'li',
        { class: on ? 'selected' : undefined, 'aria-current': on ? 'true' : undefined },
        h('span', { class: 'cand-type' }, c.type),
        h('span', { class: 'cand-proto' }, proto),
        h('span', { class: 'cand-addr' }, endpoint(c)),
      );
      if (on) li.append(h('span', { class: 'cand-tag' }, 'in use'));
      return li;
    });
  }
}
