/**
 * Who receives what in a room: the one place that decides subscriptions. The core applies the
 * policy when participants, subscribers and publications come and go, and adds or removes the
 * subscriptions it implies; explicit subscriptions ({@link SfuCore.subscribe}) come on top and
 * are never removed by it.
 *
 * Today's rooms use {@link SFU_ROOM_POLICY}. The MCU will bring others: in an `mcu` room browsers
 * get only the composite (a `mixer` participant's publications), and in an SFU room a weak
 * subscriber may fall back to the composite.
 */
import type { MediaKind, ParticipantKind } from './sfu-core-types.js';

/** The subscriber side of a policy question. */
export interface PolicySubscriber {
  /** The subscriber's id. */
  id: string;
  participant: { id: string; kind: ParticipantKind };
}

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

/**
 * SFU rooms today: every browser participant's subscriber receives every other participant's
 * publications (browsers' and server-side ones alike). Server-side subscribers (local RTP sinks of
 * a mixer or a recorder) only get what they subscribe to explicitly.
 */
export const SFU_ROOM_POLICY: SubscriptionPolicy = Object.freeze({
  name: 'sfu',
  subscribes: (s: PolicySubscriber, p: PolicyPublication) => s.participant.kind === 'browser' && s.participant.id !== p.participant.id,
});
