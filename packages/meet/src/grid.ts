/**
 * The video grid. Tiles are reconciled from the SDK's participant state on every event
 * (`sync*`), so the order in which events arrive does not matter.
 *
 *   own tile       `.tile.local#local-tile` (mirrored video)
 *   remote tile    `.tile.remote[data-identity]` with a muted `<video>`, an `<audio>` for the
 *                  microphone, `.avatar`, `.name`, `.mic-muted-icon`, `.conn-badge`,
 *                  `button.inspect-btn` (opens the connection inspector; `.inspected` while open)
 *   screen share   `.tile.screen[data-screen-of]` (`.tile.screen.local` for our own share)
 *   composite      `.tile.composite#composite-tile`: the server's composite video and, in an MCU
 *                  room, our N−1 audio mix; `.conn-badge` "MCU" (or "Composite" in an SFU room's
 *                  fallback) and `button.inspect-btn` (the inspector on the server connection).
 *                  In an MCU room (`.grid[data-mode="mcu"]`) the others' tiles are hidden: their
 *                  videos and voices come in the composite, so it and our own preview are all.
 *
 * State classes and attributes: `.video-off` (avatar shown), `data-mic="on|muted"`,
 * `.reconnecting`, `data-peer-state` (RTCPeerConnectionState), `.speaking` (in the room's active
 * speaker list, own tile included).
 */
import type { CompositeTracks, LocalParticipant, RemoteParticipant } from '@dari/client';
import { avatarColor, h, icon, initials } from './dom.js';

interface Tile {
  root: HTMLElement;
  video: HTMLVideoElement;
  avatar: HTMLElement;
  name: HTMLElement;
  mic: HTMLElement;
}

interface RemoteTile extends Tile {
  audio: HTMLAudioElement;
  badge: HTMLElement;
  inspect: HTMLButtonElement;
  screen: ScreenTile | null;
}

interface ScreenTile {
  root: HTMLElement;
  video: HTMLVideoElement;
}

interface CompositeTile extends ScreenTile {
  audio: HTMLAudioElement;
  badge: HTMLElement;
  inspect: HTMLButtonElement;
}

/** The inspector's target for the composite tile (the connection to the server). */
export const COMPOSITE_TARGET = 'dari-composite';

function createTile(cls: string, attrs: Record<string, string>): Tile {
  const video = h('video', { autoplay: true, playsinline: true, muted: true });
  video.muted = true; // audio goes through a separate <audio>, so video autoplay is never blocked
  const avatar = h('span', { class: 'avatar-circle' });
  const mic = h('span', { class: 'mic-muted-icon', title: 'Microphone off', 'aria-label': 'Microphone off', role: 'img', hidden: true }, icon('micOff'));
  const name = h('span', { class: 'name' });
  const root = h('div', { class: `tile ${cls} video-off`, ...attrs }, video, h('div', { class: 'avatar' }, avatar), h('div', { class: 'tile-info' }, mic, name));
  return { root, video, avatar, name, mic };
}

function createScreenTile(attrs: Record<string, string>, label: string): ScreenTile {
  const video = h('video', { autoplay: true, playsinline: true, muted: true });
  video.muted = true;
  const root = h('div', { class: 'tile screen', ...attrs }, video, h('div', { class: 'tile-info' }, h('span', { class: 'name' }, label)));
  return { root, video };
}

export class Grid {
  private readonly remotes = new Map<string, RemoteTile>();
  private local: Tile | null = null;
  private localScreen: ScreenTile | null = null;
  private composite: CompositeTile | null = null;
  private audioBlocked = false;
  /** Identities in the active speaker list, so tiles created later start highlighted. */
  private speaking = new Set<string>();

  /**
   * @param onAudioBlocked called when the browser's autoplay policy refused to play remote audio
   *   (the caller shows a button that calls {@link resumeAudio})
   * @param onInspect a remote tile's connection-details button was clicked
   */
  constructor(
    private readonly container: HTMLElement,
    private readonly onAudioBlocked: () => void,
    private readonly onInspect: (identity: string, button: HTMLButtonElement) => void = () => {},
  ) {}

  /** Creates the own tile (call when joining). */
  setLocal(name: string): void {
    if (!this.local) {
      this.local = createTile('local', { id: 'local-tile' });
      this.container.prepend(this.local.root);
    }
    this.local.root.dataset['name'] = name;
    this.local.name.textContent = `${name} (you)`;
    this.setAvatar(this.local, name, 'local');
    this.updateCount();
  }

  syncLocal(lp: LocalParticipant): void {
    if (!this.local) return;
    const camera = lp.getTrack('camera');
    this.setSource(this.local.video, camera?.track ?? null);
    this.local.root.classList.toggle('video-off', !lp.isCameraEnabled);
    this.setMic(this.local, lp.isMicrophoneEnabled);
    const screen = lp.getTrack('screen_share')?.track ?? null;
    if (screen) {
      this.localScreen ??= this.addScreen({ 'data-screen-of': lp.identity || 'local', class: 'local' }, 'Your screen');
      this.setSource(this.localScreen.video, screen);
    } else if (this.localScreen) {
      this.localScreen.root.remove();
      this.localScreen = null;
    }
    this.updateCount();
  }

  /**
   * Shows the server's composite (`room.composite`) as one tile. `mcu`: the room is an MCU room
   * (`room.mediaPath`), where the others' tiles are hidden (their media is in the composite).
   */
  setComposite(tracks: CompositeTracks, mcu: boolean): void {
    this.container.dataset['mode'] = mcu ? 'mcu' : '';
    if (!tracks.video && !mcu) {
      if (this.composite) {
        this.composite.video.srcObject = null;
        this.composite.audio.srcObject = null;
        this.composite.root.remove();
        this.composite = null;
      }
      this.updateCount();
      return;
    }
    const tile = (this.composite ??= this.addComposite());
    this.setSource(tile.video, tracks.video ?? null);
    this.setSource(tile.audio, tracks.audio ?? null);
    tile.root.classList.toggle('video-off', !tracks.video);
    tile.badge.textContent = mcu ? 'MCU' : 'Composite';
    tile.badge.dataset['path'] = mcu ? 'mcu' : 'composite-fallback';
    tile.badge.title = mcu
      ? 'MCU room: you send once to the server and receive one video of everyone and one audio mix of everyone but you'
      : 'Your connection cannot carry everyone\'s video: the server sends you one composite of them';
    this.updateCount();
  }

  /** The composite tile's badge, if there is one. */
  get compositeBadge(): HTMLElement | undefined {
    return this.composite?.badge;
  }

  /** Creates or updates the tiles of a remote participant from its publications. */
  syncRemote(p: RemoteParticipant): void {
    const tile = this.remotes.get(p.identity) ?? this.addRemote(p);
    const name = p.name || p.identity;
    tile.root.dataset['name'] = name;
    tile.name.textContent = name;
    tile.inspect.setAttribute('aria-label', `Connection details for ${name}`);
    tile.inspect.title = `Connection details for ${name}`;
    this.setAvatar(tile, name, p.identity);

    const camera = p.getTrack('camera');
    if (camera?.track && (tile.video.srcObject as MediaStream | null)?.getTracks()[0] !== camera.track) {
      // attach() also reports the tile's size, so the SFU sends the simulcast layer that fills it.
      camera.attach(tile.video);
      this.play(tile.video);
    } else if (!camera?.track) this.setSource(tile.video, null);
    const cameraOn = !!camera?.track && !camera.muted && camera.track.readyState === 'live';
    tile.root.classList.toggle('video-off', !cameraOn);

    const mic = p.getTrack('microphone');
    this.setSource(tile.audio, mic?.track ?? null);
    this.setMic(tile, !!mic && !mic.muted);
    tile.root.classList.toggle('reconnecting', p.state === 'reconnecting');
    tile.root.title = p.state === 'reconnecting' ? `${name} is reconnecting…` : '';

    this.setIngress(tile, p);

    const screen = p.getTrack('screen_share')?.track ?? null;
    if (screen) {
      tile.screen ??= this.addScreen({ 'data-screen-of': p.identity }, `${name}'s screen`);
      this.setSource(tile.screen.video, screen);
    } else if (tile.screen) {
      tile.screen.root.remove();
      tile.screen = null;
    }
    this.updateCount();
  }

  /**
   * A camera (RTSP ingest) or WHIP publisher gets a badge naming it, and its state when its media
   * does not flow ("camera reconnecting", or failed with the reason).
   */
  private setIngress(tile: RemoteTile, p: RemoteParticipant): void {
    const ingress = p.info.ingress;
    let badge = tile.root.querySelector<HTMLElement>('.ingress-badge');
    if (!ingress) {
      badge?.remove();
      return;
    }
    if (!badge) {
      badge = h('span', { class: 'ingress-badge' });
      tile.root.append(badge);
    }
    const what = ingress.type === 'rtsp' ? 'camera' : 'WHIP';
    badge.dataset['type'] = ingress.type;
    badge.dataset['state'] = ingress.state;
    badge.textContent = ingress.state === 'active' ? (ingress.type === 'rtsp' ? 'Camera' : 'WHIP') : `${what} ${ingress.state}${ingress.reason ? `: ${ingress.reason}` : ''}`;
    badge.title = ingress.type === 'rtsp' ? 'An IP camera the server pulls over RTSP' : 'A broadcaster publishing over WHIP';
  }

  removeRemote(identity: string): void {
    const tile = this.remotes.get(identity);
    if (!tile) return;
    for (const media of [tile.video, tile.audio, tile.screen?.video]) if (media) media.srcObject = null;
    tile.root.remove();
    tile.screen?.root.remove();
    this.remotes.delete(identity);
    this.updateCount();
  }

  /** The `.conn-badge` of a remote tile. */
  badgeFor(identity: string): HTMLElement | undefined {
    return this.remotes.get(identity)?.badge;
  }

  /** Marks the tile whose connection is inspected (null: none). */
  setInspected(identity: string | null): void {
    for (const [id, tile] of this.remotes) {
      tile.root.classList.toggle('inspected', id === identity);
      tile.inspect.setAttribute('aria-expanded', String(id === identity));
    }
    this.composite?.root.classList.toggle('inspected', identity === COMPOSITE_TARGET);
    this.composite?.inspect.setAttribute('aria-expanded', String(identity === COMPOSITE_TARGET));
  }

  setPeerState(identity: string, state: RTCPeerConnectionState): void {
    const tile = this.remotes.get(identity);
    if (tile) tile.root.dataset['peerState'] = state;
  }

  /**
   * Highlights the tiles of who speaks now (`.speaking`).
   * @param identities the room's active speakers (the SDK's `activeSpeakersChanged`)
   * @param localIdentity our own identity, whose tile is `#local-tile`
   */
  setSpeaking(identities: string[], localIdentity: string): void {
    this.speaking = new Set(identities);
    for (const [id, tile] of this.remotes) tile.root.classList.toggle('speaking', this.speaking.has(id));
    this.local?.root.classList.toggle('speaking', localIdentity !== '' && this.speaking.has(localIdentity));
  }

  /** Retries remote audio after a user gesture (autoplay policy). */
  resumeAudio(): void {
    this.audioBlocked = false;
    for (const tile of this.remotes.values()) if (tile.audio.srcObject) this.play(tile.audio);
    if (this.composite?.audio.srcObject) this.play(this.composite.audio);
  }

  /** Removes every tile (on leaving). */
  clear(): void {
    for (const identity of [...this.remotes.keys()]) this.removeRemote(identity);
    if (this.local) this.local.video.srcObject = null;
    this.local?.root.remove();
    this.localScreen?.root.remove();
    this.local = null;
    this.localScreen = null;
    this.setComposite({}, false);
    this.audioBlocked = false;
    this.speaking.clear();
    this.updateCount();
  }

  private addRemote(p: RemoteParticipant): RemoteTile {
    const base = createTile('remote', { 'data-identity': p.identity });
    const audio = h('audio', { autoplay: true });
    const badge = h('span', { class: 'conn-badge', 'data-path': 'none', title: 'Connecting…' }, '…');
    const inspect = h('button', { type: 'button', class: 'inspect-btn', 'aria-controls': 'inspector', 'aria-expanded': 'false' }, icon('info'));
    inspect.addEventListener('click', () => this.onInspect(p.identity, inspect));
    base.root.append(audio, badge, inspect);
    const tile: RemoteTile = { ...base, audio, badge, inspect, screen: null };
    tile.root.classList.toggle('speaking', this.speaking.has(p.identity));
    this.remotes.set(p.identity, tile);
    this.container.append(tile.root);
    return tile;
  }

  private addComposite(): CompositeTile {
    const base = createScreenTile({ id: 'composite-tile' }, 'Everyone');
    base.root.classList.add('composite');
    const audio = h('audio', { autoplay: true });
    const badge = h('span', { class: 'conn-badge' });
    const inspect = h('button', { type: 'button', class: 'inspect-btn', 'aria-controls': 'inspector', 'aria-expanded': 'false', 'aria-label': 'Connection details', title: 'Connection details' }, icon('info'));
    inspect.addEventListener('click', () => this.onInspect(COMPOSITE_TARGET, inspect));
    base.root.append(audio, badge, inspect);
    this.container.prepend(base.root);
    return { ...base, audio, badge, inspect };
  }

  private addScreen(attrs: Record<string, string>, label: string): ScreenTile {
    const { class: extra, ...rest } = attrs;
    const tile = createScreenTile(rest, label);
    if (extra) tile.root.classList.add(extra);
    this.container.prepend(tile.root);
    return tile;
  }

  private setAvatar(tile: Tile, name: string, key: string): void {
    tile.avatar.textContent = initials(name);
    tile.avatar.style.backgroundColor = avatarColor(key);
  }

  private setMic(tile: Tile, on: boolean): void {
    tile.mic.hidden = on;
    tile.root.dataset['mic'] = on ? 'on' : 'muted';
  }

  /** Points a media element at one track (or nothing), only when it changed. */
  private setSource(el: HTMLMediaElement, track: MediaStreamTrack | null): void {
    const current = (el.srcObject as MediaStream | null)?.getTracks()[0] ?? null;
    if (current === track) return;
    el.srcObject = track ? new MediaStream([track]) : null;
    if (track) this.play(el);
  }

  private play(el: HTMLMediaElement): void {
    el.play().catch((err: unknown) => {
      if (err instanceof DOMException && err.name === 'NotAllowedError' && el instanceof HTMLAudioElement && !this.audioBlocked) {
        this.audioBlocked = true;
        this.onAudioBlocked();
      }
    });
  }

  /** Tiles shown (an MCU room hides the others' tiles). */
  private updateCount(): void {
    const hidden = this.container.dataset['mode'] === 'mcu' ? this.remotes.size : 0;
    this.container.dataset['count'] = String(this.container.childElementCount - hidden);
  }
}
