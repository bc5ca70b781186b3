/**
 * Server-side participants in a room, with local RTP publications and subscriptions: what the MCU
 * (a mixer: subscribes to browsers' tracks, publishes the composite), camera/WHIP ingest and
 * recording build on. {@link SfuManager} exposes these per room name; see docs/architecture.md.
 */
import type { AudioCodecHooks, VideoCodecHooks } from '../rtp/codec.js';
import { OPUS } from '../rtp/codec.js';
import { VP8 } from '../rtp/vp8.js';
import type { MediaKind, ParticipantKind } from '../core/sfu-core-types.js';
import type { SfuRoom } from '../werift/sfu-room.js';
import { LocalRtpSink } from './local-rtp-sink.js';
import { LocalRtpSource, type UdpAddress } from './local-rtp-source.js';

/** Why a call of the server-side participant API failed. */
export type SfuApiErrorReason = 'participant-exists' | 'unknown-participant' | 'unknown-publication' | 'room-closed' | 'bad-option';

/** A refused call of the server-side participant API, with a machine-readable {@link reason}. */
export class SfuApiError extends Error {
  override readonly name = 'SfuApiError';
  constructor(
    readonly reason: SfuApiErrorReason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Server-side participant kinds. */
export type ServerParticipantKind = Exclude<ParticipantKind, 'browser'>;

/** Options of a local RTP publication. */
export interface LocalRtpPublishOptions {
  kind: MediaKind;
  /** Stream id subscribers see (a=msid). Default: the publication id. */
  streamId?: string;
  /** The codec of the packets. Default VP8 for video, Opus for audio (what browsers are offered). */
  codec?: VideoCodecHooks | AudioCodecHooks;
  /** Audio: the RFC 8285 id of the RFC 6464 audio level extension in the packets (active speakers). Default: none. */
  audioLevelExtensionId?: number;
  /** Where keyframe requests (RTCP PLI) go. Default: back to where the RTP comes from (RFC 5761 multiplexing). */
  keyframeRequestsTo?: UdpAddress;
  /**
   * Where the subscribers' bandwidth estimates go (for an encoder that can follow them, as
   * `keyframeRequestsTo` is for PLIs): the lowest fresh REMB estimate among the subscribers of
   * this publication, bps, and the bitrate the publication arrives at (bps, over the last second),
   * at each SFU tick (every 250 ms) while an estimate is known, and once null when none is left.
   * A REMB covers everything a subscriber's leg carries (its audio too). Default: none.
   */
  onSubscriberEstimate?: (bitrateBps: number | null, sendingBps: number) => void;
  /** Video: keep the last keyframe's packets for new subscribers (a source that cannot make one on request; PublicationSpec.keyframeCache). Default false. */
  keyframeCache?: boolean;
}

/** A local RTP publication: send RTP to {@link address}:{@link port}. */
export interface LocalRtpPublication {
  /** Publication id in the room (for {@link subscribeLocalRtp} and {@link SfuManager.publications}). */
  id: string;
  kind: MediaKind;
  streamId: string;
  /** Where to send the RTP (loopback). */
  address: string;
  port: number;
  /** Unpublishes it and closes the socket. Idempotent. */
  close(): void;
}

/** A local RTP subscription: the forwarded RTP goes to the target given. */
export interface LocalRtpSubscription {
  /** Subscriber id in the room. */
  id: string;
  publicationId: string;
  /** SSRC of the forwarded packets. */
  ssrc: number;
  /** The port the packets come from; RTCP PLI/FIR sent to it asks the publisher for a keyframe. */
  localPort: number;
  /** Asks the publisher for a keyframe (the SFU's one-per-second-per-layer limit applies). */
  requestKeyframe(): void;
  /** Ends the subscription and closes the socket. Idempotent. */
  close(): void;
}

function needServerParticipant(room: SfuRoom, identity: string): void {
  if (room.isClosed) throw new SfuApiError('room-closed', `room ${room.name} is closed`);
  const kind = room.core.participantKind(identity);
  if (kind === undefined) throw new SfuApiError('unknown-participant', `no participant ${JSON.stringify(identity)} in room ${room.name}`);
  if (kind === 'browser') throw new SfuApiError('unknown-participant', `${JSON.stringify(identity)} is a browser participant, not a server-side one`);
}

/**
 * Adds a server-side participant.
 * @throws SfuApiError `participant-exists` (that identity is in the room), `room-closed`
 */
export function addServerParticipant(room: SfuRoom, identity: string, kind: ServerParticipantKind): void {
  if (room.isClosed) throw new SfuApiError('room-closed', `room ${room.name} is closed`);
  if (room.core.participantKind(identity) !== undefined) throw new SfuApiError('participant-exists', `${JSON.stringify(identity)} is already in room ${room.name}`);
  room.apply(room.core.join(identity, kind, Date.now()));
  room.startTimer();
}

/**
 * Publishes a track fed by RTP datagrams on a new loopback socket; browsers subscribe to it by
 * the room's policy. Resolves once the socket is bound.
 * @throws SfuApiError `unknown-participant` (not a server-side participant), `room-closed`,
 *   `bad-option` (an address that is not loopback); the socket's error when it cannot bind
 */
export async function publishLocalRtp(room: SfuRoom, identity: string, options: LocalRtpPublishOptions, bindAddress = '127.0.0.1'): Promise<LocalRtpPublication> {
  needServerParticipant(room, identity);
  let source: LocalRtpSource;
  try {
    source = await LocalRtpSource.open({
      bindAddress,
      ...(options.audioLevelExtensionId !== undefined ? { audioLevelExtensionId: options.audioLevelExtensionId } : {}),
      ...(options.keyframeRequestsTo ? { keyframeRequestsTo: options.keyframeRequestsTo } : {}),
      ...(options.onSubscriberEstimate ? { onSubscriberEstimate: options.onSubscriberEstimate } : {}),
    });
  } catch (err) {
    throw err instanceof RangeError ? new SfuApiError('bad-option', err.message, { cause: err }) : err;
  }
  try {
    needServerParticipant(room, identity); // it may have left while the socket was bound
  } catch (err) {
    source.close();
    throw err;
  }
  const id = room.newId(identity);
  const streamId = options.streamId ?? id;
  const codec = options.codec ?? (options.kind === 'video' ? VP8 : OPUS);
  const ref = room.addSource({ id, participant: identity, kind: options.kind, streamId, layers: [{ rid: '' }], codec, keyframeCache: options.keyframeCache === true, adaptsBitrate: options.onSubscriberEstimate !== undefined }, source);
  if (!ref) throw new SfuApiError('bad-option', `publication ${id} refused`);
  source.start((meta, bytes) => room.rtpBytes(ref, meta, bytes));
  const { address, port } = source.address;
  return { id, kind: options.kind, streamId, address, port, close: () => (ref.closed ? undefined : room.unpublish(id)) };
}

/**
 * Subscribes a new local RTP sink of server-side participant `identity` to a publication (a
 * browser's track, or another local one): its forwarded RTP goes to `target` (loopback).
 * @throws SfuApiError `unknown-participant`, `unknown-publication`, `room-closed`, `bad-option`
 *   (a target or bind address that is not loopback, a bad port); the socket's error when it cannot bind
 */
export async function subscribeLocalRtp(room: SfuRoom, identity: string, publicationId: string, target: UdpAddress, bindAddress = '127.0.0.1'): Promise<LocalRtpSubscription> {
  needServerParticipant(room, identity);
  const needPublication = () => {
    const p = room.core.publication(publicationId);
    if (!p) throw new SfuApiError('unknown-publication', `no publication ${JSON.stringify(publicationId)} in room ${room.name}`);
  };
  needPublication();
  let sink: LocalRtpSink;
  try {
    sink = await LocalRtpSink.open(target, bindAddress);
  } catch (err) {
    throw err instanceof RangeError ? new SfuApiError('bad-option', err.message, { cause: err }) : err;
  }
  try {
    needServerParticipant(room, identity);
    needPublication();
  } catch (err) {
    sink.close();
    throw err;
  }
  const id = room.newId(`${identity}/sink`);
  room.expectOutput(id, sink, (subscription) => sink.bind(subscription.outSsrc, () => room.feedback({ type: 'pli', subscription })));
  const now = Date.now();
  room.apply(room.core.addSubscriber({ id, participant: identity, ready: true }, now));
  room.apply(room.core.subscribe(id, publicationId, now));
  const subscription = room.core.subscription(id, publicationId);
  if (!subscription) {
    sink.close();
    room.apply(room.core.removeSubscriber(id, now));
    throw new SfuApiError('unknown-publication', `publication ${publicationId} could not be subscribed`);
  }
  return {
    id,
    publicationId,
    ssrc: subscription.outSsrc,
    localPort: sink.localPort,
    requestKeyframe: () => sink.requestKeyframe(),
    close: () => {
      if (room.core.hasSubscriber(id)) room.apply(room.core.removeSubscriber(id, Date.now()));
      sink.close();
    },
  };
}
