/**
 * Who receives what in a room: the one place that decides subscriptions. The core applies the
 * policy when participants, subscribers and publications come and go, and adds or removes the
 * subscriptions it implies; explicit subscriptions ({@link SfuCore.subscribe}) come on top and
 * are never removed by it.
 *
 * SFU rooms use {@link SFU_ROOM_POLICY}, where a weak subscriber may fall back to the room's
 * composite (composite-fallback.ts); `mcu` rooms bring their own (browsers get only the composite).
 */
import type { MediaKind, ParticipantKind } from './sfu-core-types.js';

/** The subscriber side of a policy question. */
export interface PolicySubscriber {
  /** The subscriber's id. */
  id: string;
  participant: { id: string; kind: ParticipantKind };
  /**
   * The subscriber is in the composite fallback and the room has a composite
   * ({@link isCompositeVideo}): it should get the composite video instead of the separate videos.
   */
  compositeFallback?: boolean;
}

/** Stream id (a=msid) of a room's composite video, published by a `mixer` participant (MCU rooms, the composite fallback). */
export const COMPOSITE_STREAM_ID = 'dari-composite';

/** The publication side of a policy question. */
export interface PolicyPublication {
  id: string;
  participant: { id: string; kind: ParticipantKind };
  kind: MediaKind;
  streamId: string;
}

export interface SubscriptionPolicy {
  /** For logs and metrics, e.g. `sfu`. */
  readonly name: string;
  /** Whether `subscriber` should receive `publication`. Pure; called often. */
  subscribes(subscriber: PolicySubscriber, publication: PolicyPublication): boolean;
}

/** Whether a publication is a room composite: a `mixer` participant's video with stream id {@link COMPOSITE_STREAM_ID}. */
export function isCompositeVideo(p: PolicyPublication): boolean {
  return p.kind === 'video' && p.participant.kind === 'mixer' && p.streamId === COMPOSITE_STREAM_ID;
}

/**
 * SFU rooms: every browser participant's subscriber receives every other participant's
 * publications (browsers' and server-side ones alike), except the room composite, which only a
 * subscriber in the composite fallback receives, instead of the other videos (its audio stays
 * the separate tracks). Server-side subscribers (local RTP sinks of a mixer or a recorder) only
 * get what they subscribe to explicitly.
 */
export const SFU_ROOM_POLICY: SubscriptionPolicy = Object.freeze({
  name: 'sfu',
  subscribes: (s: PolicySubscriber, p: PolicyPublication) => {
    if (s.participant.kind !== 'browser' || s.participant.id === p.participant.id) return false;
    if (p.kind !== 'video') return true;
    return isCompositeVideo(p) === (s.compositeFallback === true);
  },
});
