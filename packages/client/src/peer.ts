/**
 * One RTCPeerConnection: a mesh link to a remote participant, or one leg to the SFU. Negotiated
 * with the W3C "perfect negotiation" pattern (webrtc-pc §10.7 example): the polite side rolls
 * back on glare, the impolite one ignores the colliding offer. ICE restarts when the connection
 * fails. Every signaling input runs in order on one queue; a failure is reported, never thrown.
 */
import { CONTROL_CHANNEL_ID, CONTROL_CHANNEL_LABEL, type IceCandidate, type SessionDescription } from '@dari/protocol';
import { ClientError, ClientErrorCode, describe } from './errors.js';

/** A track this participant publishes, with the stream that carries its id to receivers. */
export interface LocalTrackHandle {
  sid: string;
  /** Null while a camera is off (the sender keeps its m-line and sends nothing). */
  track: MediaStreamTrack | null;
  stream: MediaStream;
  /** `camera` tracks get the simulcast encodings on an SFU publisher leg. */
  source?: string;
}

export interface PeerCallbacks {
  sendDescription(description: SessionDescription): void;
  sendCandidate(candidate: IceCandidate): void;
  onTrack(event: RTCTrackEvent): void;
  onDataChannel(channel: RTCDataChannel): void;
  onConnectionState(state: RTCPeerConnectionState): void;
  /** A message on the control data channel (`data` as received; parsing is the caller's). */
  onControl?(data: unknown): void;
  /** Negotiation, candidate or sender update failed (NEGOTIATION_FAILED, MEDIA_UPDATE_FAILED). */
  onError(error: ClientError): void;
  /**
   * Asks the offering side for an ICE restart, where this side only answers (the SFU subscriber
   * leg: `sfu-restart-ice`). Absent: this side restarts ICE itself (`restartIce()`, a new offer).
   */
  requestIceRestart?(): void;
  /** Whether signaling works now (an ICE restart's offer and answer would get through). Absent: always. */
  signalingAlive?(): boolean;
}

/**
 * How long ICE may stay `disconnected` while signaling works before the link restarts ICE, ms:
 * after an address change the old candidate pair is dead for good, and waiting for `failed`
 * (Chromium: about 30 s) would leave the call silent meanwhile.
 */
export const DISCONNECTED_RESTART_MS = 2500;

/** How to build a {@link PeerLink}. */
export interface PeerLinkOptions {
  /** Who is at the other end: a participant identity, or `sfu:publisher` / `sfu` for the SFU legs. In errors. */
  remote: string;
  /** Whether this side yields on an offer collision (webrtc-pc §10.7). */
  polite: boolean;
  configuration: RTCConfiguration;
  /** The local tracks to send, read when they are attached. */
  localTracks: () => LocalTrackHandle[];
  callbacks: PeerCallbacks;
  /** Attach the local tracks at once, so this side offers first; otherwise on the first remote offer. Default false. */
  initiator?: boolean;
  /** Open the negotiated control data channel (not on the SFU subscriber leg). Default true. */
  controlChannel?: boolean;
  /** Send the local tracks; false: a data-only link (files in an SFU room) until {@link PeerLink.enableMedia}. Default true. */
  media?: boolean;
  /** Encodings for a camera track (simulcast on the SFU publisher leg); omitted or undefined result: one encoding. */
  cameraEncodings?: (track: MediaStreamTrack) => RTCRtpEncodingParameters[] | undefined;
  /** Builds the RTCPeerConnection. Default `new RTCPeerConnection(configuration)`. */
  createPeerConnection?: (configuration: RTCConfiguration) => RTCPeerConnection;
}

export class PeerLink {
  readonly pc: RTCPeerConnection;
  readonly remote: string;
  private readonly polite: boolean;
  private readonly localTracks: () => LocalTrackHandle[];
  private readonly cb: PeerCallbacks;
  private readonly cameraEncodings: PeerLinkOptions['cameraEncodings'];
  private mediaOn: boolean;
  private makingOffer = false;
  private ignoreOffer = false;
  private localAttached = false;
  private readonly senders = new Map<string, RTCRtpSender>();
  private queue: Promise<void> = Promise.resolve();
  private encodingQueue: Promise<void> = Promise.resolve();
  private closed = false;
  /** The negotiated control channel (null on a leg that has none). */
  private readonly control: RTCDataChannel | null = null;
  private readonly controlQueue: string[] = [];
  private disconnectedTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(options: PeerLinkOptions) {
    this.remote = options.remote;
    this.polite = options.polite;
    this.localTracks = options.localTracks;
    this.cb = options.callbacks;
    this.cameraEncodings = options.cameraEncodings;
    this.mediaOn = options.media ?? true;
    this.pc = (options.createPeerConnection ?? ((c) => new RTCPeerConnection(c)))(options.configuration);
    if (options.controlChannel ?? true) {
      const control = this.pc.createDataChannel(CONTROL_CHANNEL_LABEL, { negotiated: true, id: CONTROL_CHANNEL_ID });
      control.onopen = () => {
        for (const text of this.controlQueue.splice(0)) control.send(text);
      };
      control.onmessage = this.guard('control message', (ev: MessageEvent) => this.cb.onControl?.(ev.data));
      this.control = control;
    }
    this.pc.onnegotiationneeded = () => void this.negotiate();
    this.pc.onicecandidate = this.guard('icecandidate', ({ candidate }: RTCPeerConnectionIceEvent) =>
      this.cb.sendCandidate(candidate ? (candidate.toJSON() as IceCandidate) : null),
    );
    this.pc.ontrack = this.guard('track', (ev: RTCTrackEvent) => this.cb.onTrack(ev));
    this.pc.ondatachannel = this.guard('datachannel', (ev: RTCDataChannelEvent) => this.cb.onDataChannel(ev.channel));
    this.pc.oniceconnectionstatechange = () => {
      const state = this.pc.iceConnectionState;
      if (this.disconnectedTimer) clearTimeout(this.disconnectedTimer);
      this.disconnectedTimer = null;
      if (state === 'failed') this.restartIce();
      else if (state === 'disconnected') {
        this.disconnectedTimer = setTimeout(() => {
          this.disconnectedTimer = null;
          if (this.cb.signalingAlive?.() ?? true) this.restartIceIfDown();
        }, DISCONNECTED_RESTART_MS);
      }
    };
    this.pc.onconnectionstatechange = this.guard('connectionstatechange', () => this.cb.onConnectionState(this.pc.connectionState));
    if (options.initiator ?? false) this.attachLocal();
  }

  /** Whether the link sends the local tracks (false: data only, see {@link enableMedia}). */
  get media(): boolean {
    return this.mediaOn;
  }

  /** Whether the link has a control channel. */
  get hasControlChannel(): boolean {
    return this.control !== null;
  }

  /**
   * Sends a text message to the remote SDK on the control channel, queued until it opens.
   * @returns false when the link has no control channel (nothing is sent)
   */
  sendControl(text: string): boolean {
    if (!this.control) return false;
    if (this.control.readyState === 'open') this.control.send(text);
    else this.controlQueue.push(text);
    return true;
  }

  /** Turns a data-only link into a media one: attaches the local tracks (renegotiates). */
  enableMedia(): void {
    if (this.mediaOn) return;
    this.mediaOn = true;
    this.localAttached = false;
    this.attachLocal();
  }

  /** Starts sending a newly published track (renegotiates). */
  addTrack(handle: LocalTrackHandle): void {
    if (!this.localAttached || !this.mediaOn || this.senders.has(handle.sid) || !handle.track) return;
    const sendEncodings = handle.source === 'camera' ? this.cameraEncodings?.(handle.track) : undefined;
    if (sendEncodings) {
      // Simulcast (RFC 8853): one transceiver, several encodings, told apart by rid.
      const t = this.pc.addTransceiver(handle.track, { direction: 'sendonly', streams: [handle.stream], sendEncodings });
      this.senders.set(handle.sid, t.sender);
      return;
    }
    this.senders.set(handle.sid, this.pc.addTrack(handle.track, handle.stream));
  }

  /**
   * Pauses or resumes simulcast encodings of a sent track (dynacast; RTCRtpEncodingParameters.active,
   * W3C webrtc-pc §5.2). Unknown rids are ignored; no renegotiation. Calls apply in order; a
   * failure is reported as MEDIA_UPDATE_FAILED (the encodings stay as they were).
   */
  setActiveEncodings(sid: string, rids: readonly string[]): void {
    this.encodingQueue = this.encodingQueue
      .then(() => this.applyActiveEncodings(sid, rids))
      .catch((err: unknown) => this.fail(ClientErrorCode.MEDIA_UPDATE_FAILED, `could not set simulcast layers ${rids.join(',')}`, err, { track: sid }));
  }

  private async applyActiveEncodings(sid: string, rids: readonly string[]): Promise<void> {
    const sender = this.senders.get(sid);
    if (!sender || this.closed) return;
    const params = sender.getParameters();
    let changed = false;
    for (const e of params.encodings) {
      if (e.rid === undefined) continue;
      const active = rids.includes(e.rid);
      if (e.active !== active) {
        e.active = active;
        changed = true;
      }
    }
    if (changed) await sender.setParameters(params);
  }

  /**
   * Swaps the media of a published track without renegotiation (camera off/on, device switch).
   * Never rejects: a failure is reported as MEDIA_UPDATE_FAILED.
   */
  async replaceTrack(handle: LocalTrackHandle): Promise<void> {
    const sender = this.senders.get(handle.sid);
    if (!sender) return this.addTrack(handle);
    try {
      await sender.replaceTrack(handle.track);
    } catch (err) {
      this.fail(ClientErrorCode.MEDIA_UPDATE_FAILED, `could not replace track ${handle.sid}`, err, { track: handle.sid });
    }
  }

  /** Stops sending an unpublished track (renegotiates). */
  removeTrack(sid: string): void {
    const sender = this.senders.get(sid);
    if (!sender) return;
    this.senders.delete(sid);
    if (this.pc.signalingState !== 'closed') this.pc.removeTrack(sender);
  }

  /** Handles a remote description, in order with every other signaling input. Never rejects. */
  handleDescription(description: SessionDescription): Promise<void> {
    return this.serialize(async () => {
      const offerCollision = description.type === 'offer' && (this.makingOffer || this.pc.signalingState !== 'stable');
      this.ignoreOffer = !this.polite && offerCollision;
      if (this.ignoreOffer) return;
      await this.pc.setRemoteDescription(description as RTCSessionDescriptionInit);
      if (description.type === 'offer') {
        // The answerer's tracks go into the transceivers the offer created, so no second round.
        this.attachLocal();
        await this.pc.setLocalDescription();
        const local = this.pc.localDescription;
        if (local) this.cb.sendDescription({ type: local.type as SessionDescription['type'], sdp: local.sdp });
      }
    }, 'remote description');
  }

  /** Adds a trickled remote candidate (null = end of candidates). Never rejects. */
  handleCandidate(candidate: IceCandidate): Promise<void> {
    return this.serialize(async () => {
      try {
        await this.pc.addIceCandidate((candidate ?? undefined) as RTCIceCandidateInit | undefined);
      } catch (err) {
        // A candidate of an offer we ignored (glare) is expected to fail.
        if (!this.ignoreOffer) throw err;
      }
    }, 'remote candidate');
  }

  /**
   * Restarts ICE when it is `disconnected` or `failed` (once signaling is back after a cut or an
   * address change; RFC 8445 §9). @returns whether it restarted
   */
  restartIceIfDown(): boolean {
    const state = this.pc.iceConnectionState;
    if (this.closed || (state !== 'disconnected' && state !== 'failed')) return false;
    this.restartIce();
    return true;
  }

  private restartIce(): void {
    if (this.closed) return;
    if (this.cb.requestIceRestart) this.cb.requestIceRestart();
    else this.pc.restartIce();
  }

  close(): void {
    if (this.disconnectedTimer) clearTimeout(this.disconnectedTimer);
    this.closed = true;
    this.pc.close();
  }

  private attachLocal(): void {
    if (this.localAttached || !this.mediaOn) return;
    this.localAttached = true;
    for (const handle of this.localTracks()) this.addTrack(handle);
  }

  private async negotiate(): Promise<void> {
    try {
      this.makingOffer = true;
      await this.pc.setLocalDescription();
      const local = this.pc.localDescription;
      if (local && !this.closed) this.cb.sendDescription({ type: local.type as SessionDescription['type'], sdp: local.sdp });
    } catch (err) {
      this.fail(ClientErrorCode.NEGOTIATION_FAILED, 'creating an offer failed', err);
    } finally {
      this.makingOffer = false;
    }
  }

  private serialize(task: () => Promise<void>, what: string): Promise<void> {
    const next = this.queue.then(() => (this.closed ? undefined : task()));
    this.queue = next.catch((err: unknown) => this.fail(ClientErrorCode.NEGOTIATION_FAILED, `applying a ${what} failed`, err));
    return this.queue;
  }

  /** Wraps an event handler: an exception in the SDK's handling becomes an INTERNAL error, not an uncaught one. */
  private guard<E>(what: string, handler: (ev: E) => void): (ev: E) => void {
    return (ev) => {
      try {
        handler(ev);
      } catch (err) {
        this.cb.onError(new ClientError(ClientErrorCode.INTERNAL, `handling ${what} from ${this.remote} failed: ${describe(err)}`, { peer: this.remote }, { cause: err }));
      }
    };
  }

  /** Reports a failure unless the link is closed (a closed link's errors are expected). */
  private fail(code: ClientErrorCode, what: string, err: unknown, details: Record<string, unknown> = {}): void {
    if (this.closed) return;
    this.cb.onError(new ClientError(code, `${what} with ${this.remote}: ${describe(err)}`, { peer: this.remote, ...details }, { cause: err }));
  }
}
