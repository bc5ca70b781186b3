/**
 * One RTCPeerConnection to one remote participant (full mesh), negotiated with the W3C
 * "perfect negotiation" pattern (webrtc-pc §10.7 example): the polite peer rolls back on glare,
 * the impolite one ignores the colliding offer. ICE restarts when the connection fails.
 */
import type { IceCandidate, SessionDescription } from '@dari/protocol';

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
  /** A message on the control data channel (JSON), from the remote SDK. */
  onControl?(message: unknown): void;
}

/** Label of the negotiated data channel that keeps SCTP in every offer (RFC 8831). */
export const CONTROL_CHANNEL_LABEL = 'dari';

export class PeerLink {
  readonly pc: RTCPeerConnection;
  private makingOffer = false;
  private ignoreOffer = false;
  private localAttached = false;
  private readonly senders = new Map<string, RTCRtpSender>();
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  /** The negotiated control channel (null on a leg that has none). */
  private readonly control: RTCDataChannel | null = null;
  private readonly controlQueue: string[] = [];

  /**
   * @param polite whether this side yields on offer collision
   * @param initiator true: attach local tracks now (this side offers first); false: after the first remote offer
   */
  constructor(
    readonly remoteIdentity: string,
    readonly polite: boolean,
    configuration: RTCConfiguration,
    private readonly localTracks: () => LocalTrackHandle[],
    private readonly cb: PeerCallbacks,
    initiator: boolean,
    /** Open the negotiated control data channel (not on an SFU subscriber leg, which only answers). */
    dataChannel = true,
    /** Send the local tracks (false: a data-only link, e.g. for files in an SFU room; see {@link enableMedia}). */
    public media = true,
    /** Encodings for a camera track (simulcast on an SFU publisher leg); undefined = one encoding. */
    private readonly cameraEncodings?: (track: MediaStreamTrack) => RTCRtpEncodingParameters[] | undefined,
  ) {
    this.pc = new RTCPeerConnection(configuration);
    if (dataChannel) {
      const control = this.pc.createDataChannel(CONTROL_CHANNEL_LABEL, { negotiated: true, id: 0 });
      control.onopen = () => {
        for (const text of this.controlQueue.splice(0)) control.send(text);
      };
      control.onmessage = (ev) => {
        try {
          this.cb.onControl?.(JSON.parse(String(ev.data)));
        } catch {
          // not ours
        }
      };
      this.control = control;
    }
    this.pc.onnegotiationneeded = () => void this.negotiate();
    this.pc.onicecandidate = ({ candidate }) => this.cb.sendCandidate(candidate ? candidate.toJSON() as IceCandidate : null);
    this.pc.ontrack = (ev) => this.cb.onTrack(ev);
    this.pc.ondatachannel = (ev) => this.cb.onDataChannel(ev.channel);
    this.pc.oniceconnectionstatechange = () => {
      if (this.pc.iceConnectionState === 'failed') this.pc.restartIce();
    };
    this.pc.onconnectionstatechange = () => this.cb.onConnectionState(this.pc.connectionState);
    if (initiator) this.attachLocal();
  }

  /** Sends a JSON message to the remote SDK on the control channel (queued until it opens). */
  sendControl(message: unknown): void {
    const text = JSON.stringify(message);
    if (this.control?.readyState === 'open') this.control.send(text);
    else if (this.control) this.controlQueue.push(text);
  }

  /** Turns a data-only link into a media one: attaches the local tracks (renegotiates). */
  enableMedia(): void {
    if (this.media) return;
    this.media = true;
    this.localAttached = false;
    this.attachLocal();
  }

  /** Starts sending a newly published track (renegotiates). */
  addTrack(handle: LocalTrackHandle): void {
    if (!this.localAttached || !this.media || this.senders.has(handle.sid) || !handle.track) return;
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
   * failure is logged (the encodings stay as they were).
   */
  setActiveEncodings(sid: string, rids: readonly string[]): void {
    this.encodingQueue = this.encodingQueue
      .then(() => this.applyActiveEncodings(sid, rids))
      .catch((err: unknown) => console.warn(`[dari] could not set simulcast layers ${rids.join(',')}`, err));
  }

  private encodingQueue: Promise<void> = Promise.resolve();

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

  /** Swaps the media of a published track without renegotiation (camera off/on, device switch). */
  async replaceTrack(handle: LocalTrackHandle): Promise<void> {
    const sender = this.senders.get(handle.sid);
    if (sender) await sender.replaceTrack(handle.track);
    else this.addTrack(handle);
  }

  /** Stops sending an unpublished track (renegotiates). */
  removeTrack(sid: string): void {
    const sender = this.senders.get(sid);
    if (!sender) return;
    this.senders.delete(sid);
    if (this.pc.signalingState !== 'closed') this.pc.removeTrack(sender);
  }

  /** Handles a remote description, in order with every other signaling input. */
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
    });
  }

  /** Adds a trickled remote candidate (null = end of candidates). */
  handleCandidate(candidate: IceCandidate): Promise<void> {
    return this.serialize(async () => {
      try {
        await this.pc.addIceCandidate((candidate ?? undefined) as RTCIceCandidateInit | undefined);
      } catch (err) {
        if (!this.ignoreOffer) throw err;
      }
    });
  }

  close(): void {
    this.closed = true;
    this.pc.close();
  }

  private attachLocal(): void {
    if (this.localAttached || !this.media) return;
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
      if (!this.closed) console.warn(`[dari] negotiation with ${this.remoteIdentity} failed`, err);
    } finally {
      this.makingOffer = false;
    }
  }

  private serialize(task: () => Promise<void>): Promise<void> {
    const next = this.queue.then(() => (this.closed ? undefined : task()));
    this.queue = next.catch((err: unknown) => {
      if (!this.closed) console.warn(`[dari] signaling with ${this.remoteIdentity} failed`, err);
    });
    return this.queue;
  }
}
