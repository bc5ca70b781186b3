/**
 * Participants as the SDK exposes them, shaped like LiveKit's: a {@link LocalParticipant} that
 * turns camera, microphone and screen share on and off, and {@link RemoteParticipant}s with
 * their {@link RemoteTrackPublication}s.
 */
import { ErrorCode, SignalingError, type Grants, type ParticipantInfo, type TrackInfo, type TrackSource } from '@dari/protocol';
import type { LocalTrackHandle } from './peer.js';

/** A track the local participant publishes. */
export class LocalTrack implements LocalTrackHandle {
  muted = false;
  constructor(
    readonly sid: string,
    readonly source: TrackSource,
    readonly kind: 'audio' | 'video',
    public track: MediaStreamTrack | null,
    /** Carries the publication's id to receivers as the a=msid stream id. */
    readonly stream: MediaStream,
  ) {}

  info(): TrackInfo {
    return { sid: this.sid, source: this.source, kind: this.kind, streamId: this.stream.id, muted: this.muted };
  }
}

/** What the local participant needs from the Room to publish. */
export interface PublishSink {
  published(track: LocalTrack): void;
  replaced(track: LocalTrack): void;
  unpublished(track: LocalTrack): void;
  changed(): void;
  /** Something the participant did on its own (not in a call of the app) failed. */
  failed(what: string, error: unknown): void;
}

export interface CaptureOptions {
  /** `MediaTrackConstraints.deviceId`, e.g. from the lobby's device picker. */
  deviceId?: string;
  /** Extra constraints (W3C mediacapture-streams §3.1); default 1280×720 for the camera. */
  constraints?: MediaTrackConstraints;
}

const newSid = () => `TR_${crypto.randomUUID().replace(/-/g, '').slice(0, 12)}`;

export class LocalParticipant {
  sid = '';
  identity = '';
  name = '';
  grants: Grants = { canPublish: true, canSubscribe: true, canPublishData: true };
  readonly tracks = new Map<TrackSource, LocalTrack>();
  /** In the room's active speaker list (`sfu` rooms; set by the Room on `activeSpeakersChanged`). */
  isSpeaking = false;
  /** Smoothed microphone level from the SFU, 0..1 linear amplitude (0.01 = -40 dBov); 0 when not speaking. */
  audioLevel = 0;

  constructor(private readonly sink: PublishSink) {}

  get isCameraEnabled(): boolean {
    return this.enabled('camera');
  }
  get isMicrophoneEnabled(): boolean {
    return this.enabled('microphone');
  }
  get isScreenShareEnabled(): boolean {
    return this.tracks.has('screen_share');
  }

  /** The published track of a source, if any. */
  getTrack(source: TrackSource): LocalTrack | undefined {
    return this.tracks.get(source);
  }

  /**
   * Turns the camera on (getUserMedia, then publish or resume) or off (stop capture, keep the
   * m-line so turning it on again needs no renegotiation).
   * @throws SignalingError PERMISSION_DENIED without canPublish; DOMException from getUserMedia
   */
  async setCameraEnabled(enabled: boolean, options: CaptureOptions = {}): Promise<void> {
    if (!enabled) return this.pause('camera');
    const video: MediaTrackConstraints = { width: { ideal: 1280 }, height: { ideal: 720 }, ...options.constraints };
    if (options.deviceId) video.deviceId = { exact: options.deviceId };
    const stream = await navigator.mediaDevices.getUserMedia({ video });
    await this.publishOrResume('camera', stream.getVideoTracks()[0]!);
  }

  /**
   * Unmutes the microphone (capturing on first use) or mutes it (`track.enabled = false`, so
   * silence is sent and unmuting is instant).
   * @throws SignalingError PERMISSION_DENIED without canPublish; DOMException from getUserMedia
   */
  async setMicrophoneEnabled(enabled: boolean, options: CaptureOptions = {}): Promise<void> {
    const existing = this.tracks.get('microphone');
    if (existing?.track && options.deviceId === undefined) {
      existing.track.enabled = enabled;
      existing.muted = !enabled;
      this.sink.changed();
      return;
    }
    if (!enabled) return;
    const audio: MediaTrackConstraints = { echoCancellation: true, noiseSuppression: true, ...options.constraints };
    if (options.deviceId) audio.deviceId = { exact: options.deviceId };
    const stream = await navigator.mediaDevices.getUserMedia({ audio });
    await this.publishOrResume('microphone', stream.getAudioTracks()[0]!);
  }

  /**
   * Starts (getDisplayMedia) or stops a screen share; stopping unpublishes the track.
   * @throws SignalingError PERMISSION_DENIED without canPublish; DOMException when the user refuses
   */
  async setScreenShareEnabled(enabled: boolean): Promise<void> {
    const existing = this.tracks.get('screen_share');
    if (!enabled) {
      if (existing) this.unpublish(existing);
      return;
    }
    if (existing) return;
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const track = stream.getVideoTracks()[0]!;
    // The browser's own "Stop sharing" button ends the track: unpublish it then.
    track.addEventListener('ended', () => this.setScreenShareEnabled(false).catch((err: unknown) => this.sink.failed('stopping the screen share', err)));
    await this.publishOrResume('screen_share', track);
  }

  /**
   * Publishes a track captured elsewhere (e.g. the lobby preview) under a source.
   * @throws SignalingError PERMISSION_DENIED without canPublish
   */
  async publishTrack(track: MediaStreamTrack, source: TrackSource): Promise<LocalTrack> {
    return this.publishOrResume(source, track);
  }

  /** Stops every capture and forgets the tracks (on disconnect). */
  stopAll(): void {
    for (const t of this.tracks.values()) t.track?.stop();
    this.tracks.clear();
  }

  /** Track infos for the signaling `update`. */
  trackInfos(): TrackInfo[] {
    return [...this.tracks.values()].map((t) => t.info());
  }

  private enabled(source: TrackSource): boolean {
    const t = this.tracks.get(source);
    return !!t && !!t.track && !t.muted;
  }

  private async publishOrResume(source: TrackSource, track: MediaStreamTrack): Promise<LocalTrack> {
    if (!this.grants.canPublish) {
      track.stop();
      throw new SignalingError(ErrorCode.PERMISSION_DENIED, 'this token does not allow publishing');
    }
    const existing = this.tracks.get(source);
    if (existing) {
      existing.track?.stop();
      for (const old of existing.stream.getTracks()) existing.stream.removeTrack(old);
      existing.stream.addTrack(track);
      existing.track = track;
      existing.muted = false;
      this.sink.replaced(existing);
      this.sink.changed();
      return existing;
    }
    const kind = track.kind === 'audio' ? 'audio' : 'video';
    const local = new LocalTrack(newSid(), source, kind, track, new MediaStream([track]));
    this.tracks.set(source, local);
    // Announce before the offer goes out, so receivers can map the stream id to its source.
    this.sink.changed();
    this.sink.published(local);
    return local;
  }

  private pause(source: TrackSource): void {
    const t = this.tracks.get(source);
    if (!t || !t.track) return;
    t.track.stop();
    t.track = null;
    t.muted = true;
    this.sink.replaced(t);
    this.sink.changed();
  }

  private unpublish(t: LocalTrack): void {
    t.track?.stop();
    this.tracks.delete(t.source);
    this.sink.unpublished(t);
    this.sink.changed();
  }
}

/** A track a remote participant publishes; `track` is set once it is subscribed. */
export class RemoteTrackPublication {
  track: MediaStreamTrack | null = null;
  /**
   * Which connection delivers `track`: the mesh link to the publisher, or the SFU. During a
   * P2P↔SFU switch it changes (with a new `trackSubscribed`) once the new path's track decodes.
   */
  path: 'p2p' | 'sfu' | null = null;
  /** Last size reported with {@link setVideoDimensions}, device pixels. */
  dimensions: { width: number; height: number } | null = null;
  private observer: { element: HTMLMediaElement; resize: ResizeObserver } | null = null;
  /** @param onDimensions tells the room (which sends `track-settings` to the SFU) */
  constructor(
    public info: TrackInfo,
    private readonly onDimensions: (pub: RemoteTrackPublication) => void = () => undefined,
  ) {}

  /**
   * Adaptive stream (LiveKit's `setVideoDimensions`): the size at which the app renders this
   * video, in device pixels; the SFU then forwards the smallest simulcast layer that fills it.
   * 0×0 = not shown (nothing is forwarded). No effect on P2P links.
   */
  setVideoDimensions(dimensions: { width: number; height: number }): void {
    const width = Math.max(0, Math.round(dimensions.width));
    const height = Math.max(0, Math.round(dimensions.height));
    if (this.dimensions?.width === width && this.dimensions.height === height) return;
    this.dimensions = { width, height };
    this.onDimensions(this);
  }

  /**
   * Shows the track in `element` and keeps reporting the element's size (ResizeObserver ×
   * devicePixelRatio) for adaptive stream. Call again after a new `trackSubscribed` for it.
   */
  attach(element: HTMLMediaElement): void {
    if (this.track) element.srcObject = new MediaStream([this.track]);
    if (this.kind !== 'video' || typeof ResizeObserver === 'undefined') return;
    this.observer?.resize.disconnect();
    const report = () => {
      const dpr = globalThis.devicePixelRatio || 1;
      const hidden = !element.isConnected || element.clientWidth === 0 || element.clientHeight === 0;
      this.setVideoDimensions(hidden ? { width: 0, height: 0 } : { width: element.clientWidth * dpr, height: element.clientHeight * dpr });
    };
    const resize = new ResizeObserver(report);
    resize.observe(element);
    this.observer = { element, resize };
    report();
  }

  /** Stops showing the track in `element` and reports it as not shown. */
  detach(element: HTMLMediaElement): void {
    element.srcObject = null;
    if (this.observer?.element !== element) return; // shown elsewhere now: keep reporting that
    this.observer.resize.disconnect();
    this.observer = null;
    if (this.kind === 'video') this.setVideoDimensions({ width: 0, height: 0 });
  }
  get sid(): string {
    return this.info.sid;
  }
  get source(): TrackSource {
    return this.info.source;
  }
  get kind(): 'audio' | 'video' {
    return this.info.kind;
  }
  get muted(): boolean {
    return this.info.muted;
  }
}

export class RemoteParticipant {
  readonly tracks = new Map<string, RemoteTrackPublication>();
  /** In the room's active speaker list (`sfu` rooms; set by the Room on `activeSpeakersChanged`). */
  isSpeaking = false;
  /** Smoothed microphone level from the SFU, 0..1 linear amplitude (0.01 = -40 dBov); 0 when not speaking. */
  audioLevel = 0;
  constructor(public info: ParticipantInfo) {}
  get sid(): string {
    return this.info.sid;
  }
  get identity(): string {
    return this.info.identity;
  }
  get name(): string {
    return this.info.name;
  }
  get metadata(): string {
    return this.info.metadata;
  }
  /** `reconnecting` while its signaling connection is lost inside the grace period. */
  get state(): ParticipantInfo['state'] {
    return this.info.state;
  }
  /** The publication of a source, if published. */
  getTrack(source: TrackSource): RemoteTrackPublication | undefined {
    for (const t of this.tracks.values()) if (t.source === source) return t;
    return undefined;
  }

  /**
   * Takes the server's new track list (`participant-updated`): publications not in it go, new
   * ones are made with `create`, the others take their new info.
   * @returns the publications that went, and those already receiving whose mute state changed
   */
  applyTracks(tracks: readonly TrackInfo[], create: (t: TrackInfo) => RemoteTrackPublication): { gone: RemoteTrackPublication[]; muteChanged: RemoteTrackPublication[] } {
    const current = new Set(tracks.map((t) => t.sid));
    const gone = [...this.tracks].filter(([sid]) => !current.has(sid)).map(([sid, pub]) => (this.tracks.delete(sid), pub));
    const muteChanged: RemoteTrackPublication[] = [];
    for (const t of tracks) {
      const pub = this.tracks.get(t.sid);
      if (!pub) {
        this.tracks.set(t.sid, create(t));
        continue;
      }
      const wasMuted = pub.muted;
      pub.info = t;
      if (pub.track && wasMuted !== t.muted) muteChanged.push(pub);
    }
    return { gone, muteChanged };
  }
}

/** Any participant of a room: the local one or a remote one. */
export type Participant = LocalParticipant | RemoteParticipant;

/**
 * Applies the server's `active-speakers`: clears `isSpeaking`/`audioLevel` of the previous
 * speakers and sets them on the new ones (identities `find` does not know are skipped).
 * @param speakers dominant speaker first; `level` 0..1 linear amplitude
 * @returns the speakers now, in the server's order
 */
export function markSpeakers(
  previous: readonly Participant[],
  speakers: readonly { identity: string; level: number }[],
  find: (identity: string) => Participant | undefined,
): Participant[] {
  for (const p of previous) {
    p.isSpeaking = false;
    p.audioLevel = 0;
  }
  return speakers.flatMap(({ identity, level }) => {
    const p = find(identity);
    if (!p) return [];
    p.isSpeaking = true;
    p.audioLevel = level;
    return [p];
  });
}
