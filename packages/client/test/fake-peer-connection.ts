/**
 * A stand-in for the browser's RTCPeerConnection, for the PeerLink and MeshTransport unit tests
 * under Node (which has no WebRTC). It records what PeerLink asks of it and lets a test play the
 * browser's part (open the data channel, deliver a message, fail a setRemoteDescription). It does
 * not negotiate anything: those tests claim PeerLink's option handling and message handling, not
 * WebRTC, which the Chromium e2e tests cover.
 */

export class FakeDataChannel {
  readyState: RTCDataChannelState = 'connecting';
  readonly sent: string[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  constructor(
    readonly label: string,
    readonly init: RTCDataChannelInit,
  ) {}
  send(text: string): void {
    this.sent.push(text);
  }
  /** The browser opens the channel. */
  open(): void {
    this.readyState = 'open';
    this.onopen?.();
  }
  /** A message from the remote arrives. */
  deliver(data: unknown): void {
    this.onmessage?.({ data } as MessageEvent);
  }
}

export class FakeSender {
  track: MediaStreamTrack | null;
  parameters: RTCRtpSendParameters;
  failSetParameters: Error | null = null;
  constructor(track: MediaStreamTrack, encodings: RTCRtpEncodingParameters[] = [{}]) {
    this.track = track;
    this.parameters = { encodings: encodings.map((e) => ({ ...e, active: true })), transactionId: 't', codecs: [], headerExtensions: [], rtcp: {} };
  }
  getParameters(): RTCRtpSendParameters {
    return structuredClone(this.parameters);
  }
  async setParameters(p: RTCRtpSendParameters): Promise<void> {
    if (this.failSetParameters) throw this.failSetParameters;
    this.parameters = p;
  }
  async replaceTrack(track: MediaStreamTrack | null): Promise<void> {
    this.track = track;
  }
}

export class FakePeerConnection {
  readonly channels: FakeDataChannel[] = [];
  /** What was added: `track` (addTrack) or `transceiver` (addTransceiver with its init). */
  readonly added: { how: 'track' | 'transceiver'; track: MediaStreamTrack; init?: RTCRtpTransceiverInit; sender: FakeSender }[] = [];
  readonly removed: FakeSender[] = [];
  readonly remoteDescriptions: RTCSessionDescriptionInit[] = [];
  signalingState: RTCSignalingState = 'stable';
  connectionState: RTCPeerConnectionState = 'new';
  iceConnectionState: RTCIceConnectionState = 'new';
  localDescription: RTCSessionDescription | null = null;
  /** The next setRemoteDescription rejects with this. */
  failNextRemoteDescription: Error | null = null;
  /** Called as setRemoteDescription starts (e.g. to close the link meanwhile). */
  onSetRemoteDescription: (() => void) | null = null;
  closed = false;
  onnegotiationneeded: (() => void) | null = null;
  onicecandidate: ((ev: { candidate: RTCIceCandidate | null }) => void) | null = null;
  ontrack: ((ev: RTCTrackEvent) => void) | null = null;
  ondatachannel: ((ev: RTCDataChannelEvent) => void) | null = null;
  oniceconnectionstatechange: (() => void) | null = null;
  onconnectionstatechange: (() => void) | null = null;

  constructor(readonly configuration: RTCConfiguration) {}

  createDataChannel(label: string, init: RTCDataChannelInit = {}): FakeDataChannel {
    const channel = new FakeDataChannel(label, init);
    this.channels.push(channel);
    return channel;
  }
  addTrack(track: MediaStreamTrack): FakeSender {
    const sender = new FakeSender(track);
    this.added.push({ how: 'track', track, sender });
    return sender;
  }
  addTransceiver(track: MediaStreamTrack, init: RTCRtpTransceiverInit): { sender: FakeSender } {
    const sender = new FakeSender(track, init.sendEncodings);
    this.added.push({ how: 'transceiver', track, init, sender });
    return { sender };
  }
  removeTrack(sender: FakeSender): void {
    this.removed.push(sender);
  }
  async setRemoteDescription(d: RTCSessionDescriptionInit): Promise<void> {
    this.onSetRemoteDescription?.();
    const fail = this.failNextRemoteDescription;
    this.failNextRemoteDescription = null;
    if (fail) throw fail;
    this.remoteDescriptions.push(d);
    this.signalingState = d.type === 'offer' ? 'have-remote-offer' : 'stable';
  }
  async setLocalDescription(): Promise<void> {
    const type = this.signalingState === 'have-remote-offer' ? 'answer' : 'offer';
    this.localDescription = { type, sdp: `v=0 ${type}` } as RTCSessionDescription;
    this.signalingState = type === 'answer' ? 'stable' : 'have-local-offer';
  }
  async addIceCandidate(): Promise<void> {}
  restartIce(): void {}
  close(): void {
    this.closed = true;
    this.signalingState = 'closed';
  }
  /** The browser reports a new connection state. */
  setConnectionState(state: RTCPeerConnectionState): void {
    this.connectionState = state;
    this.onconnectionstatechange?.();
  }
}

/** A MediaStreamTrack-shaped object (PeerLink only reads `kind`, `getSettings` and identity). */
export function fakeTrack(kind: 'audio' | 'video', settings: MediaTrackSettings = {}): MediaStreamTrack {
  return { kind, id: `${kind}-${Math.random()}`, getSettings: () => settings } as unknown as MediaStreamTrack;
}

/** Lets queued promise callbacks run. */
export const settle = () => new Promise<void>((resolve) => setTimeout(resolve, 0));
