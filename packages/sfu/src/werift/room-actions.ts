/**
 * Carries out the {@link SfuCore}'s actions for one {@link SfuRoom} (sfu-room.ts): outputs open and
 * close, subscriber legs renegotiate, keyframe requests and REMB go to the publication sources,
 * signaling messages to the browsers, events to the manager, metrics into the counters.
 */
import type { SfuCore } from '../core/sfu-core.js';
import type { SfuAction, SubscriptionRef } from '../core/sfu-core-types.js';
import type { ActiveSpeaker } from '../core/active-speaker.js';
import type { BrowserMember } from './browser-member.js';
import type { PublicationSource, SubscriberOutput } from './ports.js';
import type { SfuCounters, SfuOptions } from './types.js';

/** What a room tells its manager (SfuManager's events). */
export interface SfuRoomHooks {
  /** The room's active speakers changed (dominant first; empty: nobody speaks). */
  activeSpeakers?(room: string, speakers: readonly ActiveSpeaker[]): void;
}

/** A publication's source and who owns it. */
export interface SourceEntry {
  source: PublicationSource;
  participant: string;
}

/** The room's state the actions act on (the room's own maps, not copies). */
export interface ActionTarget {
  readonly name: string;
  readonly options: SfuOptions;
  readonly counters: SfuCounters;
  readonly hooks: SfuRoomHooks;
  /** Browser participants by identity. */
  readonly members: ReadonlyMap<string, BrowserMember>;
  /** Publication sources by publication id. */
  readonly sources: ReadonlyMap<string, SourceEntry>;
  /** Subscription outputs (werift senders, local RTP sinks). */
  readonly outputs: Map<SubscriptionRef, SubscriberOutput>;
  /** Makes the output of a new subscription. */
  openOutput(sub: SubscriptionRef): void;
}

/** Carries out the core's actions on `room`. */
export function applyActions(room: ActionTarget, actions: readonly SfuAction[]): void {
  for (const a of actions) {
    switch (a.type) {
      case 'subscribe':
        room.openOutput(a.subscription);
        break;
      case 'unsubscribe':
        room.outputs.get(a.subscription)?.close();
        room.outputs.delete(a.subscription);
        break;
      case 'renegotiate':
        room.members.get(a.subscriber)?.negotiate();
        break;
      case 'request-keyframe':
        room.sources.get(a.publication.id)?.source.requestKeyframe(a.ssrc);
        break;
      case 'send-remb':
        room.sources.get(a.publication.id)?.source.sendRtcp?.(a.packet);
        break;
      case 'publisher-layers': {
        const p = room.members.get(a.publication.participant);
        if (p) room.options.send(room.name, p.identity, p.sid, { type: 'publisher-layers', streamId: a.publication.streamId, rids: a.rids });
        break;
      }
      case 'subscriber-estimate':
        room.sources.get(a.publication.id)?.source.subscriberEstimate?.(a.bitrateBps, a.sendingBps);
        break;
      case 'active-speakers': {
        if (a.to === undefined) room.hooks.activeSpeakers?.(room.name, a.speakers);
        const to = a.to === undefined ? [...room.members.values()] : [room.members.get(a.to)].filter((m) => m !== undefined);
        for (const m of to) room.options.send(room.name, m.identity, m.sid, { type: 'active-speakers', speakers: [...a.speakers] });
        break;
      }
      case 'composite-fallback': {
        const { participant: identity, on, reason, estimateBps, needBps } = a;
        room.options.onCompositeFallback?.(room.name, { identity, sid: room.members.get(identity)?.sid, on, reason, estimateBps, needBps });
        break;
      }
      case 'metrics':
        addMetrics(room.counters, a.delta);
        break;
      case 'ignore':
        room.options.logger.debug({ room: room.name, reason: a.reason, detail: a.detail }, 'sfu: input ignored');
        break;
    }
  }
}

/** Adds a core metrics delta to the totals. */
export function addMetrics(c: SfuCounters, d: ReturnType<SfuCore['takeMetrics']>): void {
  c.forwardedPackets += d.forwardedPackets;
  c.forwardedBytes += d.forwardedBytes;
  c.pliReceived += d.pliReceived;
  c.pliSent += d.pliSent;
  c.nackReceived += d.nackReceived;
  c.keyframeReplays += d.keyframeReplays;
  for (const [reason, n] of Object.entries(d.ignored)) c.ignored[reason as keyof SfuCounters['ignored']] = (c.ignored[reason as keyof SfuCounters['ignored']] ?? 0) + n;
}
