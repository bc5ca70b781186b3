/**
 * The make-before-break P2P↔SFU switch, sans-I/O: facts in (the room's mode, announced
 * publications, remote tracks arriving and decoding, `moved` from peers, connection states, the
 * time), actions out (use a track, send `moved`, close a mesh link, close the SFU legs, arm a
 * timer …). It owns no peer connection, track, socket or timer; {@link TopologyAdapter} feeds it
 * and carries out its actions, and its unit tests drive time by hand.
 *
 * The rules (docs/protocol.md, "Topology"):
 * - A switch starts when the room's mode changes. The new path is set up while the old one keeps
 *   carrying media; a track arriving on the new path replaces the publication's old-path track
 *   only once it decodes, or after {@link READY_TIMEOUT_MS}.
 * - When everything of a peer that the app has comes over the new path, the peer is told so,
 *   once per switch (`moved`).
 * - A mesh link closes when both ends have moved to `sfu`; the SFU legs close (and `sfu-leave`
 *   goes out) when we and every peer have moved to `p2p`.
 * - After {@link SWITCH_TIMEOUT_MS} the old path is closed anyway, but only if the new one is up;
 *   if it is down, both stay and the check repeats after another {@link SWITCH_TIMEOUT_MS}.
 * - Flipping back mid-switch takes back the old path's tracks that are still live.
 */
import {
  READY_TIMEOUT_MS,
  SWITCH_TIMEOUT_MS,
  type LinkState,
  type MediaPath,
  type PublicationRef,
  type SwitchAction,
  type SwitchPhase,
  type TrackArrival,
  type UseReason,
  type Arrival,
  type Publication,
  type Remote,
} from './topology-types.js';

export {
  READY_TIMEOUT_MS,
  SWITCH_TIMEOUT_MS,
  type LinkState,
  type MediaPath,
  type PublicationRef,
  type SwitchAction,
  type SwitchPhase,
  type TrackArrival,
  type UseReason,
} from './topology-types.js';

export class TopologySwitch {
  private modeNow: MediaPath = 'p2p';
  private phaseNow: SwitchPhase = 'steady';
  /** When the fallback closes the old path (ms), while switching. */
  private deadline: number | null = null;
  private timerAt: number | null = null;
  private readonly remotes = new Map<string, Remote>();
  /** Live tracks by id (an ended track is forgotten). */
  private readonly arrivals = new Map<string, Arrival>();
  /** The SFU legs when open; `state` is the subscriber leg's, the one that receives. */
  private sfu: { state: LinkState } | null = null;
  private out: SwitchAction[] = [];

  /** The room's media topology as this client applies it. */
  get mode(): MediaPath {
    return this.modeNow;
  }

  get phase(): SwitchPhase {
    return this.phaseNow;
  }

  /** Whether the SFU legs are open (or being opened). */
  get sfuOpen(): boolean {
    return this.sfu !== null;
  }

  /** A fresh join: forget everything, take the room's mode; opens the SFU legs in an `sfu` room. */
  start(mode: MediaPath): SwitchAction[] {
    this.clear();
    this.modeNow = mode;
    if (mode === 'sfu') {
      this.sfu = { state: 'new' };
      this.out.push({ type: 'open-sfu' });
    }
    return this.flush();
  }

  /** Teardown: forget every remote, track, path and timer. */
  reset(): SwitchAction[] {
    this.clear();
    return this.flush();
  }

  private clear(): void {
    this.modeNow = 'p2p';
    this.phaseNow = 'steady';
    this.deadline = null;
    this.remotes.clear();
    this.arrivals.clear();
    this.sfu = null;
    this.out = [];
  }

  /** A participant and its publications (joined, or its track list changed). */
  participant(identity: string, publications: readonly PublicationRef[], now: number): SwitchAction[] {
    let remote = this.remotes.get(identity);
    if (!remote) this.remotes.set(identity, (remote = { publications: new Map() }));
    const listed = new Set(publications.map((p) => p.sid));
    for (const sid of [...remote.publications.keys()]) if (!listed.has(sid)) remote.publications.delete(sid);
    for (const p of publications) {
      const known = remote.publications.get(p.sid);
      if (known) Object.assign(known, { streamId: p.streamId, kind: p.kind });
      else remote.publications.set(p.sid, { sid: p.sid, streamId: p.streamId, kind: p.kind, byPath: {} });
    }
    // SFU tracks that arrived before their publisher's track list: claim those that are its.
    for (const a of this.arrivals.values()) {
      if (a.owner === undefined && a.pending && publications.some((p) => p.streamId === a.streamId)) a.owner = identity;
    }
    this.match(identity, now);
    return this.flush();
  }

  /** A participant left (its mesh link is closed by whoever removes it). */
  participantLeft(identity: string, now: number): SwitchAction[] {
    if (!this.remotes.delete(identity)) return this.flush();
    for (const [id, a] of this.arrivals) if (a.owner === identity || a.from === identity) this.arrivals.delete(id);
    this.finish(false, now);
    return this.flush();
  }

  /** The room's mode changed (`room-mode`, or `joined` after a resumed session). Starts a switch. */
  setMode(mode: MediaPath, now: number): SwitchAction[] {
    if (mode === this.modeNow) return this.flush();
    this.modeNow = mode;
    this.phaseNow = 'switching';
    this.deadline = now + SWITCH_TIMEOUT_MS;
    for (const r of this.remotes.values()) delete r.movedSent;
    // Flipping back before the old path was closed: its tracks are still live, take them back.
    for (const [identity, r] of this.remotes) {
      for (const pub of r.publications.values()) {
        const back = pub.byPath[mode];
        if (back === undefined || !this.arrivals.has(back) || pub.current === back) continue;
        this.use(identity, pub, this.arrivals.get(back)!, 'flip-back');
      }
    }
    if (mode === 'sfu') {
      if (!this.sfu) {
        this.sfu = { state: 'new' };
        this.out.push({ type: 'open-sfu' });
      }
      // Render sizes first, so the SFU does not start everyone on the top layer.
      this.out.push({ type: 'send-render-sizes' });
    } else {
      for (const identity of this.remotes.keys()) this.out.push({ type: 'open-mesh-media', identity });
    }
    this.matchAll(now);
    this.finish(false, now);
    return this.flush();
  }

  /** A remote track arrived on a path (`RTCPeerConnection.ontrack`). */
  trackArrived(track: TrackArrival, now: number): SwitchAction[] {
    const owner = track.path === 'p2p' ? track.from : this.ownerOf(track.streamId);
    const known = this.arrivals.get(track.id);
    if (known) Object.assign(known, { pending: true, owner });
    else this.arrivals.set(track.id, { ...track, owner, pending: true, ready: false });
    if (owner !== undefined) this.match(owner, now);
    this.finish(false, now);
    return this.flush();
  }

  /** A watched track decodes (video: framesDecoded > 0) or receives (audio: packetsReceived > 0). */
  trackDecoding(trackId: string, now: number): SwitchAction[] {
    const a = this.arrivals.get(trackId);
    if (a && !a.ready) {
      a.ready = true;
      a.readyBy = 'decoding';
      if (a.owner !== undefined) this.match(a.owner, now);
    }
    return this.flush();
  }

  /** A track ended (`MediaStreamTrack` `ended`): it can no longer be used or taken back. */
  trackEnded(trackId: string): SwitchAction[] {
    this.arrivals.delete(trackId);
    return this.flush();
  }

  /** A peer said `{t:'moved', path}` on the mesh link's control channel. */
  remoteMoved(identity: string, path: MediaPath, now: number): SwitchAction[] {
    const r = this.remotes.get(identity);
    if (r) {
      r.moved = path;
      this.finish(false, now);
    }
    return this.flush();
  }

  /** The mesh link to `identity` was created, started carrying media, or changed state; null: it is gone. */
  meshLink(identity: string, link: { media: boolean; state: LinkState } | null): SwitchAction[] {
    const r = this.remotes.get(identity);
    if (r) {
      if (link) r.link = { ...link };
      else delete r.link;
    }
    return this.flush();
  }

  /** The SFU subscriber leg's connection state (the leg that receives media). */
  sfuState(state: LinkState): SwitchAction[] {
    if (this.sfu) this.sfu.state = state;
    return this.flush();
  }

  /** Time passed: readiness timeouts and the switch fallback. */
  tick(now: number): SwitchAction[] {
    const owners = new Set<string>();
    for (const a of this.arrivals.values()) {
      if (a.pending && !a.ready && a.watchedSince !== undefined && now - a.watchedSince >= READY_TIMEOUT_MS) {
        a.ready = true;
        a.readyBy = 'timeout';
        if (a.owner !== undefined) owners.add(a.owner);
      }
    }
    for (const owner of owners) this.match(owner, now);
    if (this.deadline !== null && now >= this.deadline) this.finish(true, now);
    return this.flush();
  }

  /** Whether the adapter should keep polling `trackId` for decoding. */
  isWatching(trackId: string): boolean {
    const a = this.arrivals.get(trackId);
    return !!a && a.pending && !a.ready && a.watchedSince !== undefined;
  }

  /** Whether `trackId` is a live track the switch may still use (false once its path closed or it ended). */
  knowsTrack(trackId: string): boolean {
    return this.arrivals.has(trackId);
  }

  /** A JSON-able picture of the state, for diagnostics. */
  snapshot(): Record<string, unknown> {
    return {
      mode: this.modeNow,
      phase: this.phaseNow,
      deadline: this.deadline,
      sfu: this.sfu,
      remotes: [...this.remotes].map(([identity, r]) => ({
        identity,
        moved: r.moved,
        movedSent: r.movedSent,
        link: r.link,
        publications: [...r.publications.values()].map((p) => ({ sid: p.sid, path: p.path, current: p.current, byPath: p.byPath })),
      })),
      pending: [...this.arrivals.values()].filter((a) => a.pending).map((a) => ({ id: a.id, path: a.path, owner: a.owner, ready: a.ready })),
    };
  }

  private ownerOf(streamId: string | undefined): string | undefined {
    for (const [identity, r] of this.remotes) for (const p of r.publications.values()) if (p.streamId === streamId) return identity;
    return undefined;
  }

  private matchAll(now: number): void {
    for (const identity of [...this.remotes.keys()]) this.match(identity, now);
  }

  /**
   * Pairs `owner`'s pending tracks with its publications by stream id and kind. A track of the
   * current path that would replace one of the other path waits until it decodes.
   */
  private match(owner: string, now: number): void {
    const r = this.remotes.get(owner);
    if (r) {
      for (const a of this.arrivals.values()) {
        if (!a.pending || a.owner !== owner) continue;
        if (a.path !== this.modeNow) {
          a.pending = false; // the old path's late arrivals
          continue;
        }
        const pub = [...r.publications.values()].find((p) => p.streamId === a.streamId && p.kind === a.kind);
        if (!pub) continue;
        if (pub.current === a.id) {
          a.pending = false;
          continue;
        }
        const replacing = pub.current !== undefined && pub.path !== a.path;
        if (replacing && !a.ready) {
          if (a.watchedSince === undefined) {
            a.watchedSince = now;
            this.out.push({ type: 'watch-decoding', trackId: a.id });
          }
          continue;
        }
        this.use(owner, pub, a, replacing ? (a.readyBy ?? 'timeout') : 'new');
      }
    }
    this.finish(false, now);
  }

  private use(identity: string, pub: Publication, a: Arrival, reason: UseReason): void {
    a.pending = false;
    pub.current = a.id;
    pub.path = a.path;
    pub.byPath[a.path] = a.id;
    this.out.push({ type: 'use-track', identity, trackSid: pub.sid, trackId: a.id, path: a.path, reason });
  }

  /** Whether the new path carries media at all (the old one is only force-closed then). */
  private newPathUp(): boolean {
    if (this.modeNow === 'sfu') return this.sfu?.state === 'connected' || this.remotes.size === 0;
    for (const r of this.remotes.values()) if (r.link?.state !== 'connected') return false;
    return true;
  }

  /** Whether every track of `r` that the app has comes over the current path. */
  private movedFrom(r: Remote): boolean {
    for (const p of r.publications.values()) if (p.current !== undefined && p.path !== this.modeNow) return false;
    return true;
  }

  /** Tells a peer, once per switch, that we receive it over `path` now (needs a mesh link). */
  private sendMoved(identity: string, r: Remote, path: MediaPath): void {
    if (r.movedSent === path || !r.link) return;
    r.movedSent = path;
    this.out.push({ type: 'send-moved', identity, path });
  }

  /**
   * Closes what the old path no longer carries: a mesh link once both ends receive each other
   * through the SFU; the SFU legs once every peer and we receive over the mesh.
   * @param force the fallback fired: close the old path now if the new one is up (else wait
   *   another {@link SWITCH_TIMEOUT_MS}: a dead new path must not take the old one with it)
   */
  private finish(force: boolean, now: number): void {
    if (force && !this.newPathUp()) {
      this.deadline = now + SWITCH_TIMEOUT_MS;
      return;
    }
    if (this.modeNow === 'sfu') {
      for (const [identity, r] of this.remotes) {
        if (!r.link?.media) continue;
        const moved = this.movedFrom(r);
        if (moved) this.sendMoved(identity, r, 'sfu');
        if (force || (moved && r.moved === 'sfu')) {
          this.out.push({ type: 'close-mesh-link', identity });
          delete r.link;
          delete r.moved;
          for (const [id, a] of this.arrivals) if (a.path === 'p2p' && a.from === identity) this.arrivals.delete(id);
        }
      }
    } else if (this.sfu) {
      let all = true;
      for (const [identity, r] of this.remotes) {
        const moved = this.movedFrom(r);
        if (moved) this.sendMoved(identity, r, 'p2p');
        if (!moved || r.moved !== 'p2p') all = false;
      }
      if (force || all) {
        this.out.push({ type: 'close-sfu' });
        this.sfu = null;
        for (const r of this.remotes.values()) delete r.moved;
        for (const [id, a] of this.arrivals) if (a.path === 'sfu') this.arrivals.delete(id);
      }
    }
    if (force) {
      for (const a of this.arrivals.values()) {
        if (a.pending && !a.ready) {
          a.ready = true;
          a.readyBy = 'timeout';
        }
      }
      this.matchAll(now);
    }
    const done = this.modeNow === 'sfu' ? ![...this.remotes.values()].some((r) => r.link?.media) : this.sfu === null;
    if (done) {
      this.deadline = null;
      this.phaseNow = 'steady';
    }
  }

  /** Returns the actions gathered so far, with a `set-timer` when the next wake-up moved. */
  private flush(): SwitchAction[] {
    let at = this.deadline;
    for (const a of this.arrivals.values()) {
      if (a.pending && !a.ready && a.watchedSince !== undefined) {
        const t = a.watchedSince + READY_TIMEOUT_MS;
        if (at === null || t < at) at = t;
      }
    }
    if (at !== this.timerAt) {
      this.timerAt = at;
      this.out.push({ type: 'set-timer', at });
    }
    const out = this.out;
    this.out = [];
    return out;
  }
}
