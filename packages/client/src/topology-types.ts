/**
 * Inputs, actions and constants of the topology switch ({@link TopologySwitch}), next to it as
 * mediasoup keeps a class's types in a sibling file.
 */
/** Which connection delivers a remote track: the mesh link to its publisher, or the SFU. */
export type MediaPath = 'p2p' | 'sfu';

/** `RTCPeerConnection.connectionState` (W3C webrtc-pc §4.3.3). */
export type LinkState = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

/** How long a switch may keep both paths before the old one is closed anyway, ms. */
export const SWITCH_TIMEOUT_MS = 10_000;
/** How long a new-path track may take to decode before it replaces the old one anyway, ms. */
export const READY_TIMEOUT_MS = 4_000;

/** A remote track as an `RTCTrackEvent` delivered it. */
export interface TrackArrival {
  /** The adapter's id for the track (unique per MediaStreamTrack object). */
  id: string;
  path: MediaPath;
  /** `RTCTrackEvent.streams[0].id`: the a=msid stream id its publisher announced (TrackInfo.streamId). */
  streamId: string | undefined;
  kind: 'audio' | 'video';
  /** `p2p`: the identity at the other end of the mesh link. `sfu`: omitted (found by stream id). */
  from?: string;
}

/** A publication as announced over signaling (the parts matching needs). */
export interface PublicationRef {
  sid: string;
  streamId: string;
  kind: 'audio' | 'video';
}

/** Why a track is handed to the app. */
export type UseReason =
  /** The publication had no track, or had one on the same path (a renegotiated track). */
  | 'new'
  /** The new-path track decodes (video) or receives (audio): the old one can go without a freeze. */
  | 'decoding'
  /** It did not decode within {@link READY_TIMEOUT_MS}, or the switch timed out. */
  | 'timeout'
  /** The mode flipped back mid-switch: the old path's track, still live, is used again. */
  | 'flip-back';

export type SwitchAction =
  /** Hand `trackId` to the app as `identity`'s publication `trackSid` (a `trackSubscribed`). */
  | { type: 'use-track'; identity: string; trackSid: string; trackId: string; path: MediaPath; reason: UseReason }
  /** Report `TopologySwitch.trackDecoding` once `trackId` decodes (while `TopologySwitch.isWatching`). */
  | { type: 'watch-decoding'; trackId: string }
  /** Send `{t:'moved', path}` to `identity` on the mesh link's control channel. */
  | { type: 'send-moved'; identity: string; path: MediaPath }
  /** Make the mesh link to `identity` carry media: enable it, or offer one if this side offers. */
  | { type: 'open-mesh-media'; identity: string }
  /** Close the mesh link to `identity` (its media moved to the SFU). */
  | { type: 'close-mesh-link'; identity: string }
  /** Open the publisher and subscriber legs to the SFU. */
  | { type: 'open-sfu' }
  /** Close both SFU legs and send `sfu-leave`. */
  | { type: 'close-sfu' }
  /** Send the SFU every video publication's render size (`track-settings`) before it picks layers. */
  | { type: 'send-render-sizes' }
  /** Call `TopologySwitch.tick` at `at` (same clock as `now`, ms); null: no timer needed. Replaces the previous timer. */
  | { type: 'set-timer'; at: number | null };

/** `steady`: one path carries everything. `switching`: both paths are up, the old one is on its way out. */
export type SwitchPhase = 'steady' | 'switching';

// ---------------------------------------------------------------- the switch's own state

/** A publication and the tracks each path delivered for it. */
export interface Publication extends PublicationRef {
  /** The track the app has. */
  current?: string;
  path?: MediaPath;
  /** The track that arrived over each path (the app's, or the one it had before a switch). */
  byPath: Partial<Record<MediaPath, string>>;
}

/** What the switch knows of one remote participant. */
export interface Remote {
  publications: Map<string, Publication>;
  /** The path this peer last said it receives us over. */
  moved?: MediaPath;
  /** The path we said, in this switch. */
  movedSent?: MediaPath;
  /** The mesh link to this peer, if any; `media`: it carries media, not only files. */
  link?: { media: boolean; state: LinkState };
}

/** A live remote track and where it stands. */
export interface Arrival extends TrackArrival {
  owner: string | undefined;
  pending: boolean;
  ready: boolean;
  readyBy?: 'decoding' | 'timeout';
  /** When watching for decoding started (ms), while pending. */
  watchedSince?: number;
}
