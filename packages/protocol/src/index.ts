/**
 * Dari signaling protocol, version {@link PROTOCOL_VERSION}.
 *
 * JSON text frames over one WebSocket. Every frame is one object with a `type` discriminator.
 * Both the server and the browser SDK validate with these schemas, so a message that one side
 * accepts the other side can produce. The normative description is `docs/protocol.md`.
 *
 * Offer/answer follows JSEP (RFC 9429); candidates are trickled (RFC 8838); application signals
 * keep OpenVidu's `{type, data, to}` shape, where an empty `to` means everyone in the room.
 */
import { z } from 'zod';

export { SignalingError, ErrorCode, isErrorCode, type ErrorCodeName } from './errors.js';
import { ErrorCode } from './errors.js';
export {
  CONTROL_CHANNEL_LABEL,
  CONTROL_CHANNEL_ID,
  MAX_CONTROL_MESSAGE_BYTES,
  MESH_CONTROL_TYPES,
  MovedControl,
  MeshControlMessage,
  parseMeshControl,
  encodeMeshControl,
  type MeshControlParseResult,
} from './mesh-control.js';

/** Version spoken by this package. A `join` with another major version is refused (UNSUPPORTED_VERSION). */
export const PROTOCOL_VERSION = 1;

/** Default limits; the server may configure others and announces them in `joined.limits`. */
export const DEFAULT_LIMITS = {
  /** Largest accepted frame, in bytes (UTF-8). Larger frames get MESSAGE_TOO_LARGE. */
  maxMessageBytes: 64 * 1024,
  /** Longest application signal `data`, in UTF-16 code units. */
  maxSignalDataLength: 32 * 1024,
  /** Longest participant metadata, in UTF-16 code units. */
  maxMetadataLength: 4 * 1024,
  /** Most targets in one signal's `to`. */
  maxSignalTargets: 256,
  /** Longest SDP, in UTF-16 code units. */
  maxSdpLength: 60 * 1024,
  /** Most participants a room may be configured for (`signaling.maxParticipantsPerRoom`). */
  maxParticipantsPerRoom: 1000,
  /**
   * Largest JSON of one {@link ParticipantInfo}, in bytes: every string at its schema limit
   * (metadata 4096, identity and name 256, sid 64, 16 tracks of sid 64 and streamId 128 UTF-16
   * units), each unit escaped as `\uXXXX` (6 bytes), plus keys and punctuation.
   */
  maxParticipantInfoJsonBytes: 48 * 1024,
} as const;

const identity = z.string().min(1).max(256);
const sid = z.string().min(1).max(64);
const ref = z.union([z.string().max(64), z.number().int()]).optional();

/** Where a published track comes from; mirrors LiveKit's `Track.Source`. */
export const TrackSource = z.enum(['camera', 'microphone', 'screen_share', 'screen_share_audio']);
export type TrackSource = z.infer<typeof TrackSource>;

/**
 * A track a participant publishes. `streamId` is the `MediaStream.id` the publisher passes to
 * `addTrack()`, which reaches the receiver as `RTCTrackEvent.streams[0].id` (the a=msid stream id,
 * RFC 8830), so receivers can tell a camera from a screen share.
 */
export const TrackInfo = z.object({
  sid: z.string().min(1).max(64),
  source: TrackSource,
  kind: z.enum(['audio', 'video']),
  streamId: z.string().min(1).max(128),
  muted: z.boolean(),
});
export type TrackInfo = z.infer<typeof TrackInfo>;

/** What a token lets its holder do (LiveKit's VideoGrant subset). All default to true. */
export const Grants = z.object({
  canPublish: z.boolean(),
  canSubscribe: z.boolean(),
  canPublishData: z.boolean(),
});
export type Grants = z.infer<typeof Grants>;

/** Presence information about one participant, as every other participant sees it. */
export const ParticipantInfo = z.object({
  sid,
  identity,
  name: z.string().max(256),
  metadata: z.string().max(DEFAULT_LIMITS.maxMetadataLength),
  /** Join time, ms since the Unix epoch. */
  joinedAt: z.number(),
  grants: Grants,
  tracks: z.array(TrackInfo).max(16),
  /** `reconnecting` while the signaling connection is lost but inside the grace period. */
  state: z.enum(['active', 'reconnecting']),
  /**
   * Set for a participant that enters the room without a browser (LiveKit's `ParticipantInfo.kind`
   * INGRESS): `type` says how (`whip`: a WHIP publisher, RFC 9725; `rtsp`: a camera pulled by the
   * server), `state` whether its media flows (`connecting`, `active`, `reconnecting`, `failed`,
   * with `reason` when failed). Absent for browsers.
   */
  ingress: z
    .object({
      type: z.enum(['whip', 'rtsp']),
      state: z.enum(['connecting', 'active', 'reconnecting', 'failed']),
      reason: z.string().max(256).optional(),
    })
    .optional(),
});
export type ParticipantInfo = z.infer<typeof ParticipantInfo>;

/** RTCSessionDescriptionInit (W3C webrtc-pc §4.8.1); rollback is never sent over the wire. */
export const SessionDescription = z.object({
  type: z.enum(['offer', 'answer', 'pranswer']),
  sdp: z.string().min(1).max(DEFAULT_LIMITS.maxSdpLength),
});
export type SessionDescription = z.infer<typeof SessionDescription>;

/** RTCIceCandidateInit (W3C webrtc-pc §4.8.2); `null` is the end-of-candidates indication. */
export const IceCandidate = z
  .object({
    candidate: z.string().max(1024),
    sdpMid: z.string().max(64).nullable().optional(),
    sdpMLineIndex: z.number().int().min(0).max(1024).nullable().optional(),
    usernameFragment: z.string().max(256).nullable().optional(),
  })
  .nullable();
export type IceCandidate = z.infer<typeof IceCandidate>;

/** An application signal as sent: OpenVidu's `{type, data, to}`. Empty or absent `to` = everyone. */
export const SignalOut = z.object({
  type: z.string().min(1).max(64),
  data: z.string().max(DEFAULT_LIMITS.maxSignalDataLength).default(''),
  to: z.array(identity).max(DEFAULT_LIMITS.maxSignalTargets).default([]),
});
export type SignalOut = z.input<typeof SignalOut>;

/** An application signal as received: adds the sender. */
export const SignalIn = z.object({
  type: z.string(),
  data: z.string(),
  to: z.array(z.string()),
  from: z.string(),
  fromSid: z.string(),
});
export type SignalIn = z.infer<typeof SignalIn>;

/** RTCIceServer (W3C webrtc-pc §4.2.2). */
export const IceServer = z.object({
  urls: z.union([z.string(), z.array(z.string())]),
  username: z.string().optional(),
  credential: z.string().optional(),
});
export type IceServer = z.infer<typeof IceServer>;

// ---------------------------------------------------------------- client → server

export const JoinRequest = z.object({
  type: z.literal('join'),
  id: ref,
  /** Protocol version the client speaks. */
  v: z.number().int().positive(),
  /** Access token (JWT), see docs/protocol.md#tokens. */
  token: z.string().min(1).max(8192),
  /** Optional: the room the client expects; must equal the token's room. */
  room: z.string().min(1).max(256).optional(),
  metadata: z.string().max(DEFAULT_LIMITS.maxMetadataLength).optional(),
  /** Resume the session with this participant sid (after a dropped connection). */
  resume: z.object({ sid }).optional(),
});
export const LeaveRequest = z.object({ type: z.literal('leave'), id: ref });
export const SdpRequest = z.object({
  type: z.literal('sdp'),
  id: ref,
  to: identity,
  description: SessionDescription,
});
export const CandidateRequest = z.object({
  type: z.literal('candidate'),
  id: ref,
  to: identity,
  candidate: IceCandidate,
});
export const SignalRequest = z.object({ type: z.literal('signal'), id: ref, signal: SignalOut });
export const UpdateRequest = z.object({
  type: z.literal('update'),
  id: ref,
  metadata: z.string().max(DEFAULT_LIMITS.maxMetadataLength).optional(),
  tracks: z.array(TrackInfo).max(16).optional(),
});
export const PingRequest = z.object({ type: z.literal('ping'), id: ref, ts: z.number() });
/**
 * SFU legs (rooms in `sfu` mode): each participant has a *publisher* peer connection (the client
 * offers its tracks, the SFU answers) and a *subscriber* one (the SFU offers the others' tracks,
 * the client answers), as LiveKit does, so each connection has one offerer and no glare.
 */
export const SfuPc = z.enum(['publisher', 'subscriber']);
export type SfuPc = z.infer<typeof SfuPc>;
export const SfuSdpRequest = z.object({ type: z.literal('sfu-sdp'), id: ref, pc: SfuPc, description: SessionDescription });
export const SfuCandidateRequest = z.object({ type: z.literal('sfu-candidate'), id: ref, pc: SfuPc, candidate: IceCandidate });
/** After an `auto` room went back to P2P and the client's media moved to the mesh: close my SFU legs. */
export const SfuLeaveRequest = z.object({ type: z.literal('sfu-leave'), id: ref });
/**
 * ICE restart of my subscriber leg (RFC 8445 §9, W3C restartIce()): the SFU sends a new offer
 * with fresh ICE credentials. The client restarts its publisher leg itself (an offer with new
 * credentials). Sent after a network change, or when a leg stays disconnected while signaling works.
 */
export const SfuRestartIceRequest = z.object({ type: z.literal('sfu-restart-ice'), id: ref });
/**
 * Adaptive stream: how a subscriber renders a remote video track (the element's size in CSS
 * pixels × devicePixelRatio), so the SFU forwards the smallest simulcast layer that fills it;
 * width/height 0 = not visible (nothing forwarded).
 */
export const TrackSettingsRequest = z.object({
  type: z.literal('track-settings'),
  id: ref,
  /** The publisher's identity. */
  participant: identity,
  /** The publication's sid (TrackInfo.sid). */
  trackSid: z.string().min(1).max(64),
  width: z.number().int().min(0).max(16384),
  height: z.number().int().min(0).max(16384),
});

export const ClientMessage = z.discriminatedUnion('type', [
  JoinRequest,
  LeaveRequest,
  SdpRequest,
  CandidateRequest,
  SignalRequest,
  UpdateRequest,
  PingRequest,
  SfuSdpRequest,
  SfuCandidateRequest,
  SfuLeaveRequest,
  SfuRestartIceRequest,
  TrackSettingsRequest,
]);
export type ClientMessage = z.infer<typeof ClientMessage>;
export type ClientMessageInput = z.input<typeof ClientMessage>;
export const CLIENT_MESSAGE_TYPES = ['join', 'leave', 'sdp', 'candidate', 'signal', 'update', 'ping', 'sfu-sdp', 'sfu-candidate', 'sfu-leave', 'sfu-restart-ice', 'track-settings'] as const;

// ---------------------------------------------------------------- server → client

/** Media topology of a room at a given moment. */
export const RoomMode = z.enum(['p2p', 'sfu']);
export type RoomMode = z.infer<typeof RoomMode>;

export const JoinedEvent = z.object({
  type: z.literal('joined'),
  v: z.number(),
  room: z.string(),
  participant: ParticipantInfo,
  participants: z.array(ParticipantInfo),
  iceServers: z.array(IceServer),
  /** True when this join resumed an existing session (same sid, peers untouched). */
  resumed: z.boolean(),
  /** Media topology of the room now: full-mesh P2P, or through the SFU (sfu-sdp / sfu-candidate). */
  mode: RoomMode.default('p2p'),
  /**
   * Scale-out: the id of the node the room lives on (absent on a single node). A resumed join
   * with another node than before means the room moved: SFU legs must be set up again.
   */
  node: z.string().max(64).optional(),
  limits: z.object({
    maxMessageBytes: z.number(),
    /** How long the server keeps a dropped participant, in ms. */
    reconnectGraceMs: z.number(),
  }),
});
export const ParticipantJoinedEvent = z.object({ type: z.literal('participant-joined'), participant: ParticipantInfo });
export const ParticipantUpdatedEvent = z.object({ type: z.literal('participant-updated'), participant: ParticipantInfo });
export const LeaveReason = z.enum(['left', 'disconnected', 'replaced']);
export type LeaveReason = z.infer<typeof LeaveReason>;
export const ParticipantLeftEvent = z.object({
  type: z.literal('participant-left'),
  sid,
  identity,
  reason: LeaveReason,
});
export const SdpEvent = z.object({
  type: z.literal('sdp'),
  from: identity,
  fromSid: sid,
  description: SessionDescription,
});
export const CandidateEvent = z.object({
  type: z.literal('candidate'),
  from: identity,
  fromSid: sid,
  candidate: IceCandidate,
});
export const SignalEvent = z.object({ type: z.literal('signal'), signal: SignalIn });
export const ErrorEvent = z.object({
  type: z.literal('error'),
  code: z.enum(Object.values(ErrorCode) as [string, ...string[]]),
  message: z.string(),
  /** The `id` of the client message that caused it, if it had one. */
  ref: z.union([z.string(), z.number()]).optional(),
  /** Extra machine-readable detail, e.g. the unknown identities of a signal. */
  details: z.record(z.string(), z.unknown()).optional(),
});
export const PongEvent = z.object({ type: z.literal('pong'), ts: z.number() });
export const SfuSdpEvent = z.object({ type: z.literal('sfu-sdp'), pc: SfuPc, description: SessionDescription });
export const SfuCandidateEvent = z.object({ type: z.literal('sfu-candidate'), pc: SfuPc, candidate: IceCandidate });
/**
 * The room's topology changed (`auto` rooms: a third participant joined → `sfu`; back to two →
 * `p2p`). Clients set up the new path before tearing down the old one.
 */
export const RoomModeEvent = z.object({ type: z.literal('room-mode'), mode: RoomMode });
/**
 * Dynacast: the simulcast layers (RFC 8853 rids) of one published video track that some
 * subscriber receives; the publisher pauses the others (RTCRtpEncodingParameters.active).
 */
export const PublisherLayersEvent = z.object({
  type: z.literal('publisher-layers'),
  /** The publication's a=msid stream id (TrackInfo.streamId). */
  streamId: z.string(),
  rids: z.array(z.string().max(16)).max(8),
});
/**
 * `sfu` rooms: the participants speaking now, dominant speaker first, from the RFC 6464 audio
 * levels of their microphone packets. Sent to everyone when the list or its order changes (an
 * empty list: nobody speaks).
 */
export const ActiveSpeakersEvent = z.object({
  type: z.literal('active-speakers'),
  speakers: z.array(
    z.object({
      identity,
      /** Smoothed level, 0..1 linear amplitude (1 = 0 dBov, 0.01 = -40 dBov). */
      level: z.number().min(0).max(1),
    }),
  ),
});
/**
 * Whether the room is being recorded (an egress is starting or active): sent to everyone when it
 * changes, and to a newcomer after `joined` while it records. Apps must show it (a REC indicator).
 */
export const RecordingEvent = z.object({ type: z.literal('recording'), active: z.boolean() });
/**
 * How the participant's received video reaches it on the SFU leg: `sfu` (the separate tracks),
 * `composite-fallback` (an SFU room's composite video instead of the separate videos, because its
 * bandwidth estimate cannot carry them even at their lowest simulcast layers; audio stays the
 * separate tracks) or `mcu` (an `mcu` room: the composite and an N−1 mix). Sent when it changes;
 * no message means `sfu` on the SFU (or the mesh in P2P). `reason` is a code, e.g.
 * `estimate-below-need`, `probe-failed`, `estimate-recovered`, `probe`, `composite-unavailable`,
 * `composite-failed`, `mcu-room`; `estimateBps` (the REMB estimate toward the participant) and
 * `needBps` (what the separate videos need at their lowest layers, with the audio) when known.
 */
export const MediaPathKind = z.enum(['sfu', 'composite-fallback', 'mcu']);
export type MediaPathKind = z.infer<typeof MediaPathKind>;
export const MediaPathEvent = z.object({
  type: z.literal('media-path'),
  path: MediaPathKind,
  reason: z.string().max(64),
  estimateBps: z.number().min(0).optional(),
  needBps: z.number().min(0).optional(),
});
/**
 * Sent right before the server closes the connection on purpose. The SDK then does not
 * reconnect, except for `reconnect`: the node drains or the room moves to another node, and the
 * client reconnects at once and resumes its session (which lands on the room's new node).
 */
export const ClosingEvent = z.object({
  type: z.literal('closing'),
  reason: z.enum(['left', 'replaced', 'server-shutdown', 'policy-violation', 'auth-failed', 'reconnect']),
});

export const ServerMessage = z.discriminatedUnion('type', [
  JoinedEvent,
  ParticipantJoinedEvent,
  ParticipantUpdatedEvent,
  ParticipantLeftEvent,
  SdpEvent,
  CandidateEvent,
  SignalEvent,
  ErrorEvent,
  PongEvent,
  ClosingEvent,
  SfuSdpEvent,
  SfuCandidateEvent,
  RoomModeEvent,
  PublisherLayersEvent,
  ActiveSpeakersEvent,
  RecordingEvent,
  MediaPathEvent,
]);
export type ServerMessage = z.infer<typeof ServerMessage>;
export type ServerMessageOf<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>;
export type ClientMessageOf<T extends ClientMessage['type']> = Extract<ClientMessage, { type: T }>;

/** Result of {@link parseClientMessage}. */
export type ParseResult<T> =
  | { ok: true; message: T }
  | { ok: false; code: ErrorCode; message: string; ref?: string | number };

function utf8Length(text: string): number {
  // Counting without allocating; surrogate pairs give 4 bytes, as UTF-8 does.
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function parseWith<T>(
  schema: z.ZodType<T>,
  knownTypes: readonly string[],
  text: string,
  maxBytes: number,
  byteLength?: number,
): ParseResult<T> {
  // A UTF-16 code unit is at most 3 UTF-8 bytes, so short frames need no counting.
  const size = byteLength ?? (text.length * 3 <= maxBytes ? 0 : utf8Length(text));
  if (size > maxBytes) {
    return { ok: false, code: ErrorCode.MESSAGE_TOO_LARGE, message: `message exceeds ${maxBytes} bytes` };
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { ok: false, code: ErrorCode.BAD_JSON, message: `malformed JSON: ${(err as Error).message}` };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return { ok: false, code: ErrorCode.INVALID_MESSAGE, message: 'a message must be a JSON object' };
  }
  const obj = json as Record<string, unknown>;
  const id = obj['id'];
  // An id the error frame can carry back: `1e999` parses to Infinity, which JSON cannot write.
  const refField = typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) ? { ref: id } : {};
  const type = obj['type'];
  if (typeof type !== 'string' || !knownTypes.includes(type)) {
    return {
      ok: false,
      code: ErrorCode.UNKNOWN_TYPE,
      message: `unknown message type ${JSON.stringify(type)}; expected one of ${knownTypes.join(', ')}`,
      ...refField,
    };
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue && issue.path.length > 0 ? issue.path.join('.') : '(message)';
    return {
      ok: false,
      code: ErrorCode.INVALID_MESSAGE,
      message: `invalid ${type} message at ${where}: ${issue?.message ?? 'schema violation'}`,
      ...refField,
    };
  }
  return { ok: true, message: parsed.data };
}

/**
 * Parses and validates one client→server frame.
 * @param text the frame's text
 * @param maxBytes size limit in bytes (UTF-8); default {@link DEFAULT_LIMITS.maxMessageBytes}
 * @param byteLength the frame's size in bytes when the caller knows it (saves counting)
 * @returns the message, or a typed error (MESSAGE_TOO_LARGE, BAD_JSON, UNKNOWN_TYPE, INVALID_MESSAGE). Never throws.
 */
export function parseClientMessage(text: string, maxBytes: number = DEFAULT_LIMITS.maxMessageBytes, byteLength?: number): ParseResult<ClientMessage> {
  return parseWith(ClientMessage, CLIENT_MESSAGE_TYPES, text, maxBytes, byteLength);
}

export const SERVER_MESSAGE_TYPES = [
  'joined',
  'participant-joined',
  'participant-updated',
  'participant-left',
  'sdp',
  'candidate',
  'signal',
  'error',
  'pong',
  'closing',
  'sfu-sdp',
  'sfu-candidate',
  'room-mode',
  'publisher-layers',
  'active-speakers',
  'recording',
  'media-path',
] as const;

/**
 * The largest frame the server can send, bytes: a `joined` listing a full room of participants at
 * their field limits (about 47 MiB at 1000; a fixed 1 MiB rejected the `joined` of a room of 25
 * participants with long metadata, found by bench/fuzz).
 */
export const MAX_SERVER_MESSAGE_BYTES = DEFAULT_LIMITS.maxParticipantsPerRoom * DEFAULT_LIMITS.maxParticipantInfoJsonBytes + 64 * 1024;

/**
 * Parses and validates one server→client frame (used by the SDK).
 * @param maxBytes size limit in bytes; default {@link MAX_SERVER_MESSAGE_BYTES}
 * @returns the message or a typed error. Never throws.
 */
export function parseServerMessage(text: string, maxBytes: number = MAX_SERVER_MESSAGE_BYTES): ParseResult<ServerMessage> {
  return parseWith(ServerMessage, SERVER_MESSAGE_TYPES, text, maxBytes);
}

// ---------------------------------------------------------------- access tokens

/**
 * Claims of a Dari access token (a JWT, HS256, RFC 7519), shaped after LiveKit's:
 * `iss` is the API key whose secret signed it, `sub` the participant identity.
 */
export const TokenClaims = z.object({
  iss: z.string().min(1),
  sub: identity,
  /** Expiry, s since the Unix epoch (RFC 7519 §4.1.4). Required. */
  exp: z.number().int(),
  nbf: z.number().int().optional(),
  iat: z.number().int().optional(),
  name: z.string().max(256).optional(),
  metadata: z.string().max(DEFAULT_LIMITS.maxMetadataLength).optional(),
  room: z.string().min(1).max(256),
  grants: Grants.partial().optional(),
});
export type TokenClaims = z.infer<typeof TokenClaims>;
