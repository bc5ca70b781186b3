/**
 * The mesh transport: one {@link PeerLink} per remote participant, negotiated peer to peer over
 * the signaling server (`sdp` / `candidate`, docs/protocol.md#mesh-and-negotiation). A link
 * carries media in a P2P room; in an SFU room it is data-only (files) unless the room switches
 * back. Its control channel carries the mesh control messages (@dari/protocol `MeshControlMessage`),
 * parsed on receipt; a malformed one is ignored and reported.
 */
import { encodeMeshControl, parseMeshControl, type ClientMessageInput, type IceCandidate, type SessionDescription } from '@dari/protocol';
import { ClientError, ClientErrorCode } from './errors.js';
import { FILE_CHANNEL_PREFIX, receiveFileOn, type FileProgress, type ReceivedFile } from './file-transfer.js';
import { PeerLink, type LocalTrackHandle, type PeerLinkOptions } from './peer.js';
import type { LinkState, MediaPath } from './topology-switch.js';

/** What the mesh tells its owner. */
export interface MeshEvents {
  /** A remote track arrived on the link to `identity`. */
  track(identity: string, event: RTCTrackEvent): void;
  /** The link to `identity` was created, started carrying media, or changed connection state. */
  link(identity: string, link: { media: boolean; state: LinkState }): void;
  /** The link's `connectionState` changed (RTCPeerConnection `connectionstatechange`). */
  connectionState(identity: string, state: RTCPeerConnectionState): void;
  /** `identity` said `{t:'moved', path}`. */
  moved(identity: string, path: MediaPath): void;
  fileProgress(progress: FileProgress): void;
  fileReceived(file: ReceivedFile): void;
  fileFailed(error: Error, from: string): void;
  error(error: ClientError): void;
}

export interface MeshTransportOptions {
  /** The local participant's sid; the smaller sid is polite (webrtc-pc §10.7), the larger offers on a switch. */
  localSid: () => string;
  configuration: () => RTCConfiguration;
  localTracks: () => LocalTrackHandle[];
  /** Sends a signaling message; false when it was dropped. */
  send: (message: ClientMessageInput) => boolean;
  events: MeshEvents;
  /** Whether signaling works now (see {@link PeerCallbacks.signalingAlive}). Default: always. */
  signalingAlive?: () => boolean;
  /** Default `new RTCPeerConnection`. */
  createPeerConnection?: PeerLinkOptions['createPeerConnection'];
}

export class MeshTransport {
  private readonly links = new Map<string, PeerLink>();

  constructor(private readonly options: MeshTransportOptions) {}

  /** The link to `identity`, if any. */
  /** Restarts ICE on every link whose ICE is down (after signaling came back). */
  restartIceIfDown(): void {
    for (const link of this.links.values()) link.restartIceIfDown();
  }

  get(identity: string): PeerLink | undefined {
    return this.links.get(identity);
  }

  /**
   * Opens a link to a remote participant.
   * @param role.initiator attach our tracks now and offer; false: answer the remote's offer
   * @param role.media carry media (a P2P room) or data only (files in an SFU room)
   */
  open(identity: string, remoteSid: string, role: { initiator: boolean; media: boolean }): PeerLink {
    const o = this.options;
    const link = new PeerLink({
      remote: identity,
      polite: o.localSid() < remoteSid,
      configuration: o.configuration(),
      localTracks: o.localTracks,
      initiator: role.initiator,
      media: role.media,
      ...(o.createPeerConnection ? { createPeerConnection: o.createPeerConnection } : {}),
      callbacks: {
        sendDescription: (description) => o.send({ type: 'sdp', to: identity, description }),
        sendCandidate: (candidate) => o.send({ type: 'candidate', to: identity, candidate }),
        onTrack: (ev) => o.events.track(identity, ev),
        onControl: (data) => this.onControl(identity, data),
        onDataChannel: (channel) => {
          if (!channel.label.startsWith(FILE_CHANNEL_PREFIX)) return;
          receiveFileOn(channel, identity, o.events.fileProgress, (result) =>
            result instanceof Error ? o.events.fileFailed(result, identity) : o.events.fileReceived(result),
          );
        },
        onConnectionState: (state) => {
          if (this.links.get(identity) !== link) return;
          o.events.link(identity, { media: link.media, state });
          o.events.connectionState(identity, state);
        },
        onError: (error) => o.events.error(error),
        ...(o.signalingAlive ? { signalingAlive: o.signalingAlive } : {}),
      },
    });
    this.links.set(identity, link);
    o.events.link(identity, { media: link.media, state: link.pc.connectionState });
    return link;
  }

  /**
   * Makes the link to `identity` carry media: an existing (data-only) link gets the local tracks;
   * without one, the side with the larger sid offers a new link and the other waits for it.
   */
  openMedia(identity: string, remoteSid: string): void {
    const link = this.links.get(identity);
    if (link) {
      if (link.media) return;
      link.enableMedia();
      this.options.events.link(identity, { media: true, state: link.pc.connectionState });
    } else if (this.options.localSid() > remoteSid) {
      this.open(identity, remoteSid, { initiator: true, media: true });
    }
  }

  /** Handles a remote description from `identity`, opening an answering link if there is none. */
  handleDescription(identity: string, remoteSid: string, description: SessionDescription, media: boolean): Promise<void> {
    return (this.links.get(identity) ?? this.open(identity, remoteSid, { initiator: false, media })).handleDescription(description);
  }

  /** Handles a trickled candidate from `identity`, opening an answering link if there is none. */
  handleCandidate(identity: string, remoteSid: string, candidate: IceCandidate, media: boolean): Promise<void> {
    return (this.links.get(identity) ?? this.open(identity, remoteSid, { initiator: false, media })).handleCandidate(candidate);
  }

  /** Tells `identity` on the link's control channel that we receive it over `path` now. */
  sendMoved(identity: string, path: MediaPath): void {
    this.links.get(identity)?.sendControl(encodeMeshControl({ t: 'moved', path }));
  }

  close(identity: string): void {
    this.links.get(identity)?.close();
    this.links.delete(identity);
  }

  closeAll(): void {
    for (const link of this.links.values()) link.close();
    this.links.clear();
  }

  /** Starts sending a newly published track on every media link. */
  addTrack(handle: LocalTrackHandle): void {
    for (const link of this.links.values()) link.addTrack(handle);
  }

  /** Swaps a published track's media on every link (failures are reported per link). */
  replaceTrack(handle: LocalTrackHandle): Promise<void> {
    return Promise.all([...this.links.values()].map((link) => link.replaceTrack(handle))).then(() => undefined);
  }

  removeTrack(sid: string): void {
    for (const link of this.links.values()) link.removeTrack(sid);
  }

  private onControl(identity: string, data: unknown): void {
    const parsed = parseMeshControl(data);
    if (!parsed.ok) {
      this.options.events.error(
        new ClientError(ClientErrorCode.INVALID_CONTROL_MESSAGE, `ignored a control message from ${identity}: ${parsed.message}`, { from: identity, reason: parsed.code }),
      );
      return;
    }
    switch (parsed.message.t) {
      case 'moved':
        this.options.events.moved(identity, parsed.message.path);
        break;
    }
  }
}
