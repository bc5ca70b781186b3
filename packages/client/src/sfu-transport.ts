/**
 * The SFU transport: the two peer connections a participant keeps to the SFU, owned together
 * (the shape of LiveKit's PCTransportManager). On the *publisher* leg we offer our tracks (camera
 * video in simulcast layers) and the SFU answers; on the *subscriber* leg the SFU offers every
 * other participant's tracks and we answer. Each leg has one offerer, so there is no glare
 * (docs/architecture.md, "Two peer connections per participant").
 */
import type { ClientMessageInput, IceCandidate, ServerMessageOf, SessionDescription, SfuPc } from '@dari/protocol';
import type { ClientError } from './errors.js';
import { PeerLink, type LocalTrackHandle, type PeerLinkOptions } from './peer.js';

/**
 * Simulcast layers of camera video on the SFU publisher leg (RFC 8853 rids: quarter, half and
 * full resolution; bitrates in bps).
 */
export const SIMULCAST_ENCODINGS: readonly RTCRtpEncodingParameters[] = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];

/**
 * The simulcast encodings for a capture of `width`×`height` pixels: libwebrtc sends at most
 * three layers from 540p up, two from 270p and one below, dropping the lowest ones; so q/h/f
 * from 540p, h/f from 270p, and no simulcast below (a lone quarter-size layer would look bad).
 * @returns encodings for RTCRtpTransceiverInit.sendEncodings, or undefined for a single encoding
 */
export function simulcastEncodings(width: number, height: number): RTCRtpEncodingParameters[] | undefined {
  const short = Math.min(width, height);
  if (short >= 540) return SIMULCAST_ENCODINGS.map((e) => ({ ...e }));
  if (short >= 270) return SIMULCAST_ENCODINGS.slice(1).map((e) => ({ ...e }));
  return undefined;
}

/** Both legs together, as LiveKit's PCTransportState: the worse of the two legs' connection states. */
export type SfuTransportState = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

/**
 * The transport's state from its legs' `connectionState`s: `failed` if either failed, `closed`
 * once closed, `connected` when both are, `disconnected` if either is (and none failed),
 * `new` while both are new, else `connecting`.
 */
export function sfuTransportState(publisher: RTCPeerConnectionState, subscriber: RTCPeerConnectionState): SfuTransportState {
  const legs = [publisher, subscriber];
  if (legs.includes('closed')) return 'closed';
  if (legs.includes('failed')) return 'failed';
  if (legs.every((s) => s === 'connected')) return 'connected';
  if (legs.includes('disconnected')) return 'disconnected';
  if (legs.every((s) => s === 'new')) return 'new';
  return 'connecting';
}

export interface SfuTransportOptions {
  configuration: RTCConfiguration;
  localTracks: () => LocalTrackHandle[];
  /** Publish camera video in simulcast layers ({@link simulcastEncodings}). */
  simulcast: boolean;
  /** Sends a signaling message (`sfu-sdp`, `sfu-candidate`). */
  send: (message: ClientMessageInput) => boolean;
  /** A forwarded track arrived on the subscriber leg. */
  onTrack: (event: RTCTrackEvent) => void;
  /** One leg's connection state changed. */
  onLegState: (leg: SfuPc, state: RTCPeerConnectionState) => void;
  onError: (error: ClientError) => void;
  /** Whether signaling works now (see {@link PeerCallbacks.signalingAlive}). Default: always. */
  signalingAlive?: () => boolean;
  /** Default `new RTCPeerConnection`. */
  createPeerConnection?: PeerLinkOptions['createPeerConnection'];
}

export class SfuTransport {
  readonly publisher: PeerLink;
  readonly subscriber: PeerLink;
  private stateNow: SfuTransportState = 'new';
  private closed = false;
  private readonly localTracks: () => LocalTrackHandle[];

  constructor(options: SfuTransportOptions) {
    const o = options;
    this.localTracks = o.localTracks;
    const leg = (pc: SfuPc) => ({
      sendDescription: (description: SessionDescription) => o.send({ type: 'sfu-sdp', pc, description }),
      sendCandidate: (candidate: IceCandidate) => o.send({ type: 'sfu-candidate', pc, candidate }),
      onTrack: o.onTrack,
      onDataChannel: () => undefined,
      onConnectionState: (state: RTCPeerConnectionState) => {
        if (this.closed) return;
        this.stateNow = sfuTransportState(this.publisher.pc.connectionState, this.subscriber.pc.connectionState);
        o.onLegState(pc, state);
      },
      onError: o.onError,
      ...(o.signalingAlive ? { signalingAlive: o.signalingAlive } : {}),
      // The SFU offers the subscriber leg: it restarts ICE there when asked.
      ...(pc === 'subscriber' ? { requestIceRestart: () => void o.send({ type: 'sfu-restart-ice' }) } : {}),
    });
    const factory = o.createPeerConnection ? { createPeerConnection: o.createPeerConnection } : {};
    const cameraEncodings = (track: MediaStreamTrack) => {
      const { width = 0, height = 0 } = track.getSettings();
      return simulcastEncodings(width, height);
    };
    // We offer on the publisher leg: our tracks go in at once.
    this.publisher = new PeerLink({
      remote: 'sfu:publisher',
      polite: true,
      configuration: o.configuration,
      localTracks: o.localTracks,
      callbacks: leg('publisher'),
      initiator: true,
      ...(o.simulcast ? { cameraEncodings } : {}),
      ...factory,
    });
    // The SFU offers on the subscriber leg; it sends nothing of ours and has no control channel.
    this.subscriber = new PeerLink({
      remote: 'sfu',
      polite: true,
      configuration: o.configuration,
      localTracks: () => [],
      callbacks: leg('subscriber'),
      controlChannel: false,
      ...factory,
    });
  }

  /** Restarts ICE on a leg whose ICE is down (after signaling came back). */
  restartIceIfDown(): void {
    this.publisher.restartIceIfDown();
    this.subscriber.restartIceIfDown();
  }

  get state(): SfuTransportState {
    return this.stateNow;
  }

  /** The leg a signaling message names. */
  leg(pc: SfuPc): PeerLink {
    return pc === 'publisher' ? this.publisher : this.subscriber;
  }

  addTrack(handle: LocalTrackHandle): void {
    this.publisher.addTrack(handle);
  }

  replaceTrack(handle: LocalTrackHandle): Promise<void> {
    return this.publisher.replaceTrack(handle);
  }

  removeTrack(sid: string): void {
    this.publisher.removeTrack(sid);
  }

  /** Dynacast: the simulcast layers (rids) of a published track some subscriber receives. */
  setActiveEncodings(sid: string, rids: readonly string[]): void {
    this.publisher.setActiveEncodings(sid, rids);
  }

  /**
   * The SFU's messages for this transport: a leg's description or ICE candidate, and dynacast's
   * `publisher-layers` (the layers of our track with that stream id that someone receives).
   * Failures reach `onError` (the legs' negotiation queues report them).
   */
  handleMessage(m: ServerMessageOf<'sfu-sdp' | 'sfu-candidate' | 'publisher-layers'>): void {
    if (m.type === 'sfu-sdp') void this.leg(m.pc).handleDescription(m.description);
    else if (m.type === 'sfu-candidate') void this.leg(m.pc).handleCandidate(m.candidate);
    else {
      const t = this.localTracks().find((x) => x.stream.id === m.streamId);
      if (t) this.publisher.setActiveEncodings(t.sid, m.rids);
    }
  }

  close(): void {
    this.closed = true;
    this.publisher.close();
    this.subscriber.close();
    this.stateNow = 'closed';
  }
}
