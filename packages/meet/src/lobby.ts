/**
 * The lobby: display name, room, device pickers, camera/microphone toggles and a live muted
 * preview. Capture starts with one getUserMedia for both kinds (the browser's consent prompt),
 * then the device lists are filled from enumerateDevices(). When joining, the preview tracks
 * are handed over to the room ({@link Lobby.takeMedia}) instead of being captured again.
 */
import { avatarColor, byId, initials, randomRoomName, setToggle } from './dom.js';

type Kind = 'video' | 'audio';

/** What the lobby hands to the room when joining. Tracks now belong to the caller. */
export interface LobbyMedia {
  video: MediaStreamTrack | null;
  audio: MediaStreamTrack | null;
  /** Chosen device ids ('' = browser default), for capturing later in the room. */
  cameraId: string;
  micId: string;
}

export interface LobbyValues {
  name: string;
  room: string;
  /** A pasted access token, '' when none. */
  token: string;
}

const NAME_KEY = 'dari:name';

/** A sentence for a getUserMedia failure. */
export function describeMediaError(err: unknown, what = 'camera or microphone'): string {
  const name = err instanceof DOMException ? err.name : '';
  switch (name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return `Access to the ${what} was blocked. You can still join without it, or allow access in the browser's site settings.`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return `No ${what} found. You can still join without it.`;
    case 'NotReadableError':
    case 'AbortError':
      return `The ${what} is in use by another application or could not be started.`;
    default:
      if (typeof navigator.mediaDevices?.getUserMedia !== 'function') return 'This page cannot use the camera or microphone (it needs HTTPS or localhost).';
      return `Could not start the ${what}: ${err instanceof Error ? err.message : String(err)}`;
  }
}

export class Lobby {
  private readonly root = byId('lobby');
  private readonly form = byId<HTMLFormElement>('join-form');
  private readonly nameInput = byId<HTMLInputElement>('name');
  private readonly roomInput = byId<HTMLInputElement>('room');
  private readonly cameraSelect = byId<HTMLSelectElement>('camera-select');
  private readonly micSelect = byId<HTMLSelectElement>('mic-select');
  private readonly preview = byId<HTMLVideoElement>('preview');
  private readonly previewOff = byId('preview-off');
  private readonly previewAvatar = byId('preview-avatar');
  private readonly cameraToggle = byId<HTMLButtonElement>('lobby-camera');
  private readonly micToggle = byId<HTMLButtonElement>('lobby-mic');
  private readonly tokenField = byId('token-field');
  private readonly tokenInput = byId<HTMLTextAreaElement>('token');
  private readonly errorEl = byId('error');
  private readonly joinButton = byId<HTMLButtonElement>('join');

  private tracks: Record<Kind, MediaStreamTrack | null> = { video: null, audio: null };
  private wanted: Record<Kind, boolean> = { video: true, audio: true };
  /** Bumped per capture request of a kind; a capture whose number is stale is discarded. */
  private generation: Record<Kind, number> = { video: 0, audio: 0 };
  private active = false;
  private pending: Promise<void> = Promise.resolve();

  constructor(onJoin: () => void) {
    this.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      onJoin();
    });
    this.cameraToggle.addEventListener('click', () => this.setWanted('video', !this.wanted.video));
    this.micToggle.addEventListener('click', () => this.setWanted('audio', !this.wanted.audio));
    this.cameraSelect.addEventListener('change', () => this.recapture('video'));
    this.micSelect.addEventListener('change', () => this.recapture('audio'));
    this.nameInput.addEventListener('input', () => this.renderPreview());
    navigator.mediaDevices?.addEventListener?.('devicechange', () => void this.refreshDevices());
    this.renderToggles();
  }

  /** Fills the inputs: URL parameters first, then the remembered name, then a random room. */
  prefill(name: string | null, room: string | null): void {
    this.nameInput.value = name ?? localStorage.getItem(NAME_KEY) ?? '';
    this.roomInput.value = room ?? '';
    if (!this.roomInput.value.trim()) this.roomInput.value = randomRoomName();
  }

  /** Shows the lobby and (re)starts the preview; resolves once capture has settled. */
  show(message?: string): Promise<void> {
    this.root.hidden = false;
    this.active = true;
    this.setBusy(false);
    if (message) this.showError(message);
    else this.clearError();
    if (!this.roomInput.value.trim()) this.roomInput.value = randomRoomName();
    this.pending = this.startPreview();
    return this.pending;
  }

  hide(): void {
    this.root.hidden = true;
    this.active = false;
    this.preview.srcObject = null;
  }

  /** Trimmed values; fills in a name and a room when left empty. */
  values(): LobbyValues {
    let name = this.nameInput.value.trim();
    if (!name) name = `Guest ${Math.floor(100 + Math.random() * 900)}`;
    this.nameInput.value = name;
    let room = this.roomInput.value.trim();
    if (!room) room = this.roomInput.value = randomRoomName();
    try {
      localStorage.setItem(NAME_KEY, name);
    } catch {
      /* storage may be disabled */
    }
    return { name, room, token: this.tokenField.hidden ? '' : this.tokenInput.value.trim() };
  }

  /**
   * Waits for capture in progress, then hands the preview tracks over (the lobby forgets them
   * without stopping them) and stops previewing.
   */
  async takeMedia(): Promise<LobbyMedia> {
    await this.pending;
    this.active = false;
    this.generation.video++;
    this.generation.audio++;
    const media: LobbyMedia = { video: this.tracks.video, audio: this.tracks.audio, cameraId: this.cameraSelect.value, micId: this.micSelect.value };
    this.tracks = { video: null, audio: null };
    return media;
  }

  /** Chosen device ids, for capture in the room. */
  deviceIds(): { cameraId: string; micId: string } {
    return { cameraId: this.cameraSelect.value, micId: this.micSelect.value };
  }

  setBusy(busy: boolean): void {
    this.joinButton.disabled = busy;
    this.joinButton.textContent = busy ? 'Joining…' : 'Join';
    this.form.setAttribute('aria-busy', String(busy));
  }

  showError(message: string): void {
    this.errorEl.textContent = message;
    this.errorEl.hidden = false;
  }

  clearError(): void {
    this.errorEl.textContent = '';
    this.errorEl.hidden = true;
  }

  /** Reveals the access-token field (the server has no dev token endpoint). */
  showTokenField(): void {
    this.tokenField.hidden = false;
    this.tokenInput.focus();
  }

  private async startPreview(): Promise<void> {
    const kinds = (['video', 'audio'] as const).filter((k) => this.wanted[k] && !this.tracks[k]);
    if (kinds.length > 0) {
      const gens = kinds.map((k) => ++this.generation[k]);
      const errors: Partial<Record<Kind, unknown>> = {};
      let got = await this.capture(kinds, errors);
      if (!got && kinds.length === 2) {
        // One kind may be missing or refused: try each alone, so the other still works.
        const video = await this.capture(['video'], errors);
        const audio = await this.capture(['audio'], errors);
        got = new MediaStream([...(video?.getTracks() ?? []), ...(audio?.getTracks() ?? [])]);
      }
      const missing: Kind[] = [];
      kinds.forEach((k, i) => {
        const track = (k === 'video' ? got?.getVideoTracks() : got?.getAudioTracks())?.[0] ?? null;
        if (track) return this.adopt(k, track, gens[i]!);
        missing.push(k);
        if (this.generation[k] === gens[i]) this.wanted[k] = false;
      });
      // A join or disconnect message already shown matters more.
      if (missing.length > 0 && this.active && this.errorEl.hidden) {
        const what = missing.length === 2 ? 'camera and microphone' : missing[0] === 'video' ? 'camera' : 'microphone';
        this.showError(describeMediaError(errors[missing[0]!], what));
      }
    }
    await this.refreshDevices();
    this.renderToggles();
    this.renderPreview();
  }

  private async capture(kinds: readonly Kind[], errors: Partial<Record<Kind, unknown>>): Promise<MediaStream | null> {
    const fail = (err: unknown) => {
      for (const k of kinds) errors[k] = err;
      return null;
    };
    if (typeof navigator.mediaDevices?.getUserMedia !== 'function') return fail(new Error('getUserMedia is unavailable'));
    const constraints: MediaStreamConstraints = {
      video: kinds.includes('video') ? this.constraintsFor('video') : false,
      audio: kinds.includes('audio') ? this.constraintsFor('audio') : false,
    };
    try {
      return await navigator.mediaDevices.getUserMedia(constraints);
    } catch (err) {
      if (!(err instanceof DOMException && err.name === 'OverconstrainedError')) return fail(err);
      // A remembered device that has gone: retry with the default one.
      try {
        return await navigator.mediaDevices.getUserMedia({ video: !!constraints.video, audio: !!constraints.audio });
      } catch (retryErr) {
        return fail(retryErr);
      }
    }
  }

  private constraintsFor(kind: Kind): MediaTrackConstraints {
    const id = kind === 'video' ? this.cameraSelect.value : this.micSelect.value;
    const c: MediaTrackConstraints = kind === 'video' ? { width: { ideal: 1280 }, height: { ideal: 720 } } : { echoCancellation: true, noiseSuppression: true };
    if (id) c.deviceId = { exact: id };
    return c;
  }

  /** Keeps a captured track if its request is still current and the lobby is in use. */
  private adopt(kind: Kind, track: MediaStreamTrack, gen: number): void {
    if (gen !== this.generation[kind] || !this.active || !this.wanted[kind]) {
      track.stop();
      return;
    }
    this.tracks[kind]?.stop();
    this.tracks[kind] = track;
  }

  private setWanted(kind: Kind, on: boolean): void {
    this.wanted[kind] = on;
    if (!on) {
      this.generation[kind]++;
      this.tracks[kind]?.stop();
      this.tracks[kind] = null;
      this.renderToggles();
      this.renderPreview();
      return;
    }
    this.clearError();
    this.renderToggles();
    this.pending = this.startPreview();
  }

  /** The device picker changed: capture from the new device. */
  private recapture(kind: Kind): void {
    if (!this.wanted[kind] || !this.active) return;
    this.tracks[kind]?.stop();
    this.tracks[kind] = null;
    this.pending = this.startPreview();
  }

  private async refreshDevices(): Promise<void> {
    if (typeof navigator.mediaDevices?.enumerateDevices !== 'function') return;
    let devices: MediaDeviceInfo[];
    try {
      devices = await navigator.mediaDevices.enumerateDevices();
    } catch {
      return;
    }
    this.fill(this.cameraSelect, devices.filter((d) => d.kind === 'videoinput'), 'Camera', this.tracks.video);
    this.fill(this.micSelect, devices.filter((d) => d.kind === 'audioinput'), 'Microphone', this.tracks.audio);
  }

  private fill(select: HTMLSelectElement, devices: MediaDeviceInfo[], label: string, current: MediaStreamTrack | null): void {
    const usable = devices.filter((d) => d.deviceId !== '');
    const selected = current?.getSettings().deviceId ?? select.value;
    select.replaceChildren();
    if (usable.length === 0) {
      // Before consent, or with no device: let the browser pick its default.
      const text = devices.length > 0 ? `Default ${label.toLowerCase()}` : `No ${label.toLowerCase()} found`;
      select.append(new Option(text, ''));
      select.disabled = devices.length === 0;
      return;
    }
    usable.forEach((d, i) => select.append(new Option(d.label || `${label} ${i + 1}`, d.deviceId)));
    select.disabled = false;
    if (selected && usable.some((d) => d.deviceId === selected)) select.value = selected;
  }

  private renderToggles(): void {
    setToggle(this.cameraToggle, this.wanted.video, this.wanted.video ? 'camera' : 'cameraOff', this.wanted.video ? 'Turn camera off' : 'Turn camera on');
    setToggle(this.micToggle, this.wanted.audio, this.wanted.audio ? 'mic' : 'micOff', this.wanted.audio ? 'Turn microphone off' : 'Turn microphone on');
  }

  private renderPreview(): void {
    const video = this.tracks.video;
    const current = (this.preview.srcObject as MediaStream | null)?.getVideoTracks()[0] ?? null;
    if (current !== video) {
      this.preview.srcObject = video ? new MediaStream([video]) : null;
      if (video) this.preview.play().catch(() => undefined);
    }
    this.previewOff.hidden = !!video;
    const name = this.nameInput.value.trim();
    this.previewAvatar.textContent = initials(name || '?');
    this.previewAvatar.style.backgroundColor = avatarColor(name);
  }
}
