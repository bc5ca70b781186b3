/** The Room's events and options (its public types). */
import type { IceServer, SignalIn, SignalingError } from '@dari/protocol';
import type { ClientError } from './errors.js';
import type { FileProgress, ReceivedFile } from './file-transfer.js';
import type { LocalTrack, Participant, RemoteParticipant, RemoteTrackPublication } from './participant.js';
import type { SignalState } from './signal-client.js';
import type { MediaPathInfo } from './stats.js';
import type { CompositeTracks } from './composite-tracks.js';

export type ConnectionState = SignalState;

export interface RoomEvents {
  connectionStateChanged: (state: ConnectionState) => void;
  /** The room connection ended for good; `reason` is e.g. `left`, `replaced`, `server-shutdown`. */
  disconnected: (reason: string) => void;
  participantConnected: (participant: RemoteParticipant) => void;
  participantDisconnected: (participant: RemoteParticipant) => void;
  participantUpdated: (participant: RemoteParticipant) => void;
  trackSubscribed: (track: MediaStreamTrack, publication: RemoteTrackPublication, participant: RemoteParticipant) => void;
  trackUnsubscribed: (track: MediaStreamTrack, publication: RemoteTrackPublication, participant: RemoteParticipant) => void;
  trackMuted: (publication: RemoteTrackPublication, participant: RemoteParticipant) => void;
  trackUnmuted: (publication: RemoteTrackPublication, participant: RemoteParticipant) => void;
  localTrackPublished: (track: LocalTrack) => void;
  localTrackUnpublished: (track: LocalTrack) => void;
  /** Every application signal; `signal:<type>` fires too. */
  signal: (signal: SignalIn) => void;
  [type: `signal:${string}`]: (signal: SignalIn) => void;
  fileProgress: (progress: FileProgress) => void;
  fileReceived: (file: ReceivedFile) => void;
  fileFailed: (error: Error, from: string) => void;
  peerConnectionStateChanged: (identity: string, state: RTCPeerConnectionState) => void;
  /**
   * Something went wrong that no call of the app can be told about: a typed error the server sent
   * for one of our messages ({@link SignalingError}), or one the SDK detected
   * ({@link ClientError}: a listener of the app threw, a peer sent a malformed control message,
   * a negotiation or sender update failed). Both have `code` and `message`.
   */
  error: (error: SignalingError | ClientError) => void;
  /** `sfu` rooms: who speaks now, dominant speaker first, the local participant included; `[]` = nobody. */
  activeSpeakersChanged: (speakers: Participant[]) => void;
  /** The room started or stopped being recorded (server egress); also right after joining a room that records. Show it to the user. */
  recordingStatusChanged: (recording: boolean) => void;
  /** The server changed how our received video reaches us (`room.mediaPath`: the separate tracks, the composite fallback, the MCU composite) and why. */
  mediaPathChanged: (info: MediaPathInfo) => void;
  /** The server's composite we receive changed (`room.composite`: an `mcu` room's video and N−1 mix, or a composite fallback's video); `{}` when it ends. */
  compositeChanged: (tracks: CompositeTracks) => void;
}

export interface RoomOptions {
  /** ICE servers to use instead of the list the server hands out at join. */
  iceServers?: IceServer[];
  /** `relay` forces every peer connection through TURN (W3C webrtc-pc §4.2.1). Default `all`. */
  iceTransportPolicy?: RTCIceTransportPolicy;
  /**
   * Publish camera video to the SFU in simulcast layers (q, h, f: three from 540p captures, h and
   * f from 270p, one below; see `simulcastEncodings`). Default true. P2P links always send
   * one encoding.
   */
  simulcast?: boolean;
}

export interface ConnectOptions {
  /** Participant metadata (≤ 4 KiB), visible to everyone in the room. */
  metadata?: string;
}
