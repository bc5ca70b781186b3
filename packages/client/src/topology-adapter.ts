/**
 * The I/O side of the topology switch: feeds {@link TopologySwitch} with the clock, remote
 * tracks (by an id of our own per MediaStreamTrack) and their decoding (polled with
 * `RTCRtpReceiver.getStats()`), keeps its one timer, and carries out its actions through
 * {@link TopologyEffects} (the Room and its transports).
 */
import { ClientError, ClientErrorCode, describe } from './errors.js';
import { TopologySwitch, type LinkState, type MediaPath, type PublicationRef, type SwitchAction, type UseReason } from './topology-switch.js';

/** How often a new-path track is checked for decoding, ms. */
const DECODING_POLL_MS = 50;

/** What the switch's actions do. */
export interface TopologyEffects {
  /** Hand `track` to the app as `identity`'s publication `trackSid` (sets it and emits `trackSubscribed`). */
  useTrack(identity: string, trackSid: string, track: MediaStreamTrack, path: MediaPath, reason: UseReason): void;
  sendMoved(identity: string, path: MediaPath): void;
  openMeshMedia(identity: string): void;
  closeMeshLink(identity: string): void;
  openSfu(): void;
  /** Close both SFU legs and send `sfu-leave`. */
  closeSfu(): void;
  sendRenderSizes(): void;
  error(error: ClientError): void;
}

export class TopologyAdapter {
  readonly machine = new TopologySwitch();
  private readonly tracks = new Map<string, { track: MediaStreamTrack; receiver: RTCRtpReceiver }>();
  private readonly ids = new WeakMap<MediaStreamTrack, string>();
  private nextId = 1;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** Bumped by reset: pollers and action lists of an older connection stop. */
  private generation = 0;

  /** @param now the clock, ms (monotonic) */
  constructor(
    private readonly effects: TopologyEffects,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get mode(): MediaPath {
    return this.machine.mode;
  }

  /** A fresh join into a room in `mode`. */
  start(mode: MediaPath): void {
    this.resetIo();
    this.apply(this.machine.start(mode));
  }

  /** Teardown: no timer, no poller, no track kept. */
  reset(): void {
    this.resetIo();
    this.apply(this.machine.reset());
  }

  setMode(mode: MediaPath): void {
    this.apply(this.machine.setMode(mode, this.now()));
  }

  participant(identity: string, publications: readonly PublicationRef[]): void {
    this.apply(this.machine.participant(identity, publications, this.now()));
  }

  participantLeft(identity: string): void {
    this.apply(this.machine.participantLeft(identity, this.now()));
  }

  /** A remote track arrived on `path` (`from`: the mesh link's remote). */
  trackArrived(path: MediaPath, ev: RTCTrackEvent, from?: string): void {
    const track = ev.track;
    let id = this.ids.get(track);
    if (id === undefined) {
      id = `t${this.nextId++}`;
      this.ids.set(track, id);
      const known = id;
      track.addEventListener(
        'ended',
        () => {
          this.tracks.delete(known);
          this.apply(this.machine.trackEnded(known));
        },
        { once: true },
      );
    }
    this.tracks.set(id, { track, receiver: ev.receiver });
    const kind = track.kind === 'audio' ? 'audio' : 'video';
    this.apply(this.machine.trackArrived({ id, path, streamId: ev.streams[0]?.id, kind, ...(from !== undefined ? { from } : {}) }, this.now()));
  }

  remoteMoved(identity: string, path: MediaPath): void {
    this.apply(this.machine.remoteMoved(identity, path, this.now()));
  }

  meshLink(identity: string, link: { media: boolean; state: LinkState } | null): void {
    this.apply(this.machine.meshLink(identity, link));
  }

  sfuState(state: LinkState): void {
    this.apply(this.machine.sfuState(state));
  }

  private resetIo(): void {
    this.generation++;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.tracks.clear();
  }

  /** Carries out actions in order; stops if one of them tore the room down (a listener may disconnect). */
  private apply(actions: SwitchAction[]): void {
    const generation = this.generation;
    for (const action of actions) {
      if (generation !== this.generation) return;
      try {
        this.run(action);
      } catch (err) {
        this.effects.error(new ClientError(ClientErrorCode.INTERNAL, `topology switch: ${action.type} failed: ${describe(err)}`, { action }, { cause: err }));
      }
    }
  }

  private run(action: SwitchAction): void {
    const e = this.effects;
    switch (action.type) {
      case 'use-track': {
        const entry = this.tracks.get(action.trackId);
        if (entry) e.useTrack(action.identity, action.trackSid, entry.track, action.path, action.reason);
        break;
      }
      case 'watch-decoding':
        this.watch(action.trackId);
        break;
      case 'send-moved':
        e.sendMoved(action.identity, action.path);
        break;
      case 'open-mesh-media':
        e.openMeshMedia(action.identity);
        break;
      case 'close-mesh-link':
        e.closeMeshLink(action.identity);
        this.prune();
        break;
      case 'open-sfu':
        e.openSfu();
        break;
      case 'close-sfu':
        e.closeSfu();
        this.prune();
        break;
      case 'send-render-sizes':
        e.sendRenderSizes();
        break;
      case 'set-timer':
        this.setTimer(action.at);
        break;
    }
  }

  /** Forgets tracks the switch no longer knows (their path closed). */
  private prune(): void {
    for (const id of this.tracks.keys()) if (!this.machine.knowsTrack(id)) this.tracks.delete(id);
  }

  private setTimer(at: number | null): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (at === null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      // A timer may fire a little before `at` by this clock: it is for `at`.
      this.apply(this.machine.tick(Math.max(this.now(), at)));
    }, Math.max(0, at - this.now()));
  }

  /** Polls a new-path receiver until it decodes (video) or receives (audio), while the switch waits for it. */
  private watch(trackId: string): void {
    const generation = this.generation;
    const waiting = () => generation === this.generation && this.machine.isWatching(trackId);
    const poll = async (): Promise<void> => {
      const entry = this.tracks.get(trackId);
      if (!entry || !waiting()) return;
      let flowing = false;
      try {
        const report = await entry.receiver.getStats();
        report.forEach((s: { type: string; framesDecoded?: number; packetsReceived?: number }) => {
          if (s.type !== 'inbound-rtp') return;
          if (entry.track.kind === 'video' ? (s.framesDecoded ?? 0) > 0 : (s.packetsReceived ?? 0) > 0) flowing = true;
        });
      } catch {
        flowing = true; // the receiver is gone: stop waiting for it
      }
      if (!waiting()) return;
      if (flowing) this.apply(this.machine.trackDecoding(trackId, this.now()));
      else setTimeout(run, DECODING_POLL_MS);
    };
    const run = () => {
      poll().catch((err: unknown) => this.effects.error(new ClientError(ClientErrorCode.INTERNAL, `watching a track for decoding failed: ${describe(err)}`, {}, { cause: err })));
    };
    run();
  }
}
