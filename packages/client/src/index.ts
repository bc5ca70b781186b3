/**
 * Dari browser SDK. Served by `dari serve` as an ES module at /sdk/dari.mjs.
 *
 * ```js
 * import { Room } from '/sdk/dari.mjs';
 * const room = new Room();
 * room.on('trackSubscribed', (track, pub, participant) => attach(track));
 * room.on('signal:chat', (s) => show(s.from, s.data));
 * await room.localParticipant.setCameraEnabled(true);
 * await room.connect(location.origin, token);
 * room.sendSignal('chat', 'hello');          // to everyone
 * await room.sendFile(file, 'bob');           // P2P, with fileProgress events
 * ```
 */
export { Room } from './room.js';
export type { RoomEvents, RoomOptions, ConnectOptions, ConnectionState } from './room-events.js';
export type { MediaPath } from './topology-types.js';
export { SIMULCAST_ENCODINGS, simulcastEncodings } from './sfu-transport.js';
export { ClientError, ClientErrorCode } from './errors.js';
export { LocalParticipant, LocalTrack, RemoteParticipant, RemoteTrackPublication, type CaptureOptions, type Participant } from './participant.js';
export type { FileProgress, ReceivedFile } from './file-transfer.js';
export { CHUNK_BYTES } from './file-transfer.js';
export type { ConnectionInfo, CandidateInfo, MediaPathInfo } from './stats.js';
export { COMPOSITE_STREAM_ID, MIX_STREAM_PREFIX, type CompositeTracks } from './composite-tracks.js';
export { signalingUrl } from './signal-client.js';
export { SignalingError, ErrorCode, PROTOCOL_VERSION } from '@dari/protocol';
export type { SignalIn, ParticipantInfo, TrackInfo, TrackSource, IceServer } from '@dari/protocol';
