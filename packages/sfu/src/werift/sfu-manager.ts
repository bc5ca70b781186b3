/**
 * All SFU rooms of a process: the signaling adapter's hook (browser participants joining and
 * leaving, their SDP and candidates, render sizes), the server-side participant API for media
 * workers (local RTP publications and subscriptions), and totals for metrics.
 */
import type { IceCandidate, SessionDescription, SfuPc } from '@dari/protocol';
import type { PublicationRef } from '../core/sfu-core-types.js';
import type { SubscriptionPolicy } from '../core/subscription-policy.js';
import {
  addServerParticipant,
  publishLocalRtp,
  subscribeLocalRtp,
  SfuApiError,
  type LocalRtpPublication,
  type LocalRtpPublishOptions,
  type LocalRtpSubscription,
  type ServerParticipantKind,
} from '../local-rtp/local-rtp-room.js';
import type { UdpAddress } from '../local-rtp/local-rtp-source.js';
import { applyWeriftWorkarounds } from './patches/index.js';
import { SfuRoom } from './sfu-room.js';
import type { ActiveSpeaker } from '../core/active-speaker.js';
import { whipPublish, whipRestartIce, whipTrickle } from './whip-session.js';
import { whepSubscribe, type WhepViewer } from './whep-session.js';
import type { SfuCounters, SfuMetricsSample, SfuOptions } from './types.js';

/** {@link SfuManager}'s events and their listeners' arguments. */
export interface SfuManagerEvents {
  /**
   * A room's active speakers changed (RFC 6464 audio levels, see ActiveSpeakerDetector):
   * identities dominant first, empty when nobody speaks. Browsers get the same list as an
   * `active-speakers` message.
   */
  'active-speakers': (room: string, speakers: readonly ActiveSpeaker[]) => void;
}

export class SfuManager {
  private readonly rooms = new Map<string, SfuRoom>();
  private readonly listeners: { [K in keyof SfuManagerEvents]: Set<SfuManagerEvents[K]> } = { 'active-speakers': new Set() };
  private readonly counters: SfuCounters = { forwardedPackets: 0, forwardedBytes: 0, pliReceived: 0, pliSent: 0, nackReceived: 0, nackSent: 0, keyframeReplays: 0, ignored: {} };

  /** Applies the werift workarounds (once per process; a failed SRTP self-test is logged and werift's SRTP kept). */
  constructor(private readonly options: SfuOptions) {
    applyWeriftWorkarounds(options.logger);
  }

  private room(name: string): SfuRoom {
    let r = this.rooms.get(name);
    if (!r) this.rooms.set(name, (r = new SfuRoom(name, this.options, this.counters, { activeSpeakers: (room, speakers) => this.emit('active-speakers', room, speakers) })));
    return r;
  }

  /** Adds a listener (a listener that throws is logged and breaks neither the SFU nor other listeners). */
  on<K extends keyof SfuManagerEvents>(event: K, listener: SfuManagerEvents[K]): this {
    this.listeners[event].add(listener);
    return this;
  }

  off<K extends keyof SfuManagerEvents>(event: K, listener: SfuManagerEvents[K]): this {
    this.listeners[event].delete(listener);
    return this;
  }

  private emit<K extends keyof SfuManagerEvents>(event: K, ...args: Parameters<SfuManagerEvents[K]>): void {
    for (const listener of [...this.listeners[event]]) {
      try {
        (listener as (...a: Parameters<SfuManagerEvents[K]>) => void)(...args);
      } catch (err) {
        this.options.logger.warn({ event, err: (err as Error).message }, 'sfu: an event listener threw');
      }
    }
  }

  /** Drops a room once nobody is in it. */
  private prune(name: string): void {
    const r = this.rooms.get(name);
    if (r && r.size === 0) {
      r.flushMetrics();
      r.close();
      this.rooms.delete(name);
    }
  }

  // ------------------------------------------------------------------ browser participants (signaling)

  join(room: string, identity: string, sid: string): void {
    this.room(room).join(identity, sid);
  }

  trackSettings(room: string, identity: string, publisher: string, streamId: string, width: number, height: number): void {
    this.rooms.get(room)?.trackSettings(identity, publisher, streamId, width, height);
  }

  leave(room: string, identity: string): void {
    const r = this.rooms.get(room);
    if (!r) return;
    r.leave(identity);
    this.prune(room);
  }

  message(room: string, identity: string, message: { type: 'sfu-sdp' | 'sfu-candidate'; pc: SfuPc; description?: SessionDescription; candidate?: IceCandidate } | { type: 'sfu-restart-ice' }): void {
    const r = this.rooms.get(room);
    if (!r) return;
    if (message.type === 'sfu-restart-ice') return r.restartIce(identity);
    const body = message.type === 'sfu-sdp' ? { description: message.description! } : { candidate: message.candidate ?? null };
    r.handle(identity, message.pc, body).catch((err: unknown) => this.options.logger.warn({ err: (err as Error).message, room, identity, pc: message.pc }, 'sfu: bad description or candidate'));
  }

  // ------------------------------------------------------------------ server-side participants (media workers)

  /**
   * Adds a server-side participant (an `ingress`, a `mixer`, an `egress`) to `room`, creating
   * the room's SFU if needed. Browsers in the room subscribe to what it publishes.
   * @throws SfuApiError `participant-exists`
   */
  addServerParticipant(room: string, identity: string, kind: ServerParticipantKind): void {
    addServerParticipant(this.room(room), identity, kind);
  }

  /**
   * Publishes a track of server-side participant `identity` fed by plain RTP on a new loopback
   * UDP socket; resolves with the address and port to send to. VP8 or Opus unless `codec` says
   * otherwise; one SSRC, no simulcast.
   * @throws SfuApiError `unknown-participant`, `bad-option`, `room-closed`
   */
  publishLocalRtp(room: string, identity: string, options: LocalRtpPublishOptions): Promise<LocalRtpPublication> {
    const r = this.rooms.get(room);
    if (!r) return Promise.reject(new SfuApiError('unknown-participant', `no SFU room ${JSON.stringify(room)}`));
    return publishLocalRtp(r, identity, options, this.options.localRtpAddress);
  }

  /**
   * Subscribes server-side participant `identity` to a publication: the forwarded RTP (one SSRC,
   * continuous sequence numbers, first packet a keyframe for video) goes to `target` on loopback;
   * RTCP PLI/FIR sent back to its `localPort`, or `requestKeyframe()`, reach the publisher.
   * @throws SfuApiError `unknown-participant`, `unknown-publication`, `bad-option`, `room-closed`
   */
  subscribeLocalRtp(room: string, identity: string, publicationId: string, target: UdpAddress): Promise<LocalRtpSubscription> {
    const r = this.rooms.get(room);
    if (!r) return Promise.reject(new SfuApiError('unknown-participant', `no SFU room ${JSON.stringify(room)}`));
    return subscribeLocalRtp(r, identity, publicationId, target, this.options.localRtpAddress);
  }

  /** Removes a server-side participant: its publications and subscriptions end, its sockets close. No-op when absent. */
  removeServerParticipant(room: string, identity: string): void {
    this.leave(room, identity);
  }

  // ------------------------------------------------------------------ WHIP publishers (whip-session.ts)

  /**
   * A WHIP publisher (RFC 9725) joins `room` as `identity` with this offer; browsers in the room
   * subscribe to what it sends. End it with {@link leave}.
   * @returns the SDP answer, the SFU's candidates in it
   * @throws SfuApiError `participant-exists`, `room-closed`, `bad-option` (an offer werift refused)
   */
  async whipPublish(room: string, identity: string, sid: string, offer: string): Promise<string> {
    try {
      return await whipPublish(this.room(room), identity, sid, offer);
    } catch (err) {
      this.prune(room);
      throw err;
    }
  }

  /**
   * Trickled candidates of a WHIP publisher (an RFC 8840 SDP fragment).
   * @returns how many were added
   * @throws SfuApiError `unknown-participant`, `bad-option`
   */
  whipTrickle(room: string, identity: string, fragment: string): Promise<number> {
    const r = this.rooms.get(room);
    if (!r) return Promise.reject(new SfuApiError('unknown-participant', `no SFU room ${JSON.stringify(room)}`));
    return whipTrickle(r, identity, fragment);
  }

  /**
   * ICE restart of a WHIP publisher (RFC 9725 §4.3.2), from the client's SDP fragment.
   * @returns the SFU's fragment (new ufrag and pwd, candidates)
   * @throws SfuApiError `unknown-participant`, `bad-option`
   */
  whipRestartIce(room: string, identity: string, fragment: string): Promise<string> {
    const r = this.rooms.get(room);
    if (!r) return Promise.reject(new SfuApiError('unknown-participant', `no SFU room ${JSON.stringify(room)}`));
    return whipRestartIce(r, identity, fragment);
  }

  // ------------------------------------------------------------------ WHEP viewers (whep-session.ts)

  /**
   * A WHEP viewer `viewerId` of `target`'s audio and video in `room` (their publications when it
   * starts, and one of a kind it did not publish yet once it does), answering the player's offer.
   * @returns the answer, the peer connection, and `close()` (ends the viewing)
   * @throws SfuApiError `unknown-participant` (no such room, or the target publishes nothing),
   *   `participant-exists`, `bad-option`
   */
  async whepSubscribe(room: string, viewerId: string, target: string, offer: string): Promise<WhepViewer> {
    const r = this.rooms.get(room);
    if (!r) throw new SfuApiError('unknown-participant', `no SFU room ${JSON.stringify(room)}`);
    const viewer = await whepSubscribe(r, viewerId, target, offer);
    return {
      ...viewer,
      close: () => {
        viewer.close();
        this.prune(room);
      },
    };
  }

  /** Ends a WHIP publisher: it leaves the room's SFU, unless a newer member (another sid) has its identity now. */
  whipLeave(room: string, identity: string, sid: string): void {
    const member = this.rooms.get(room)?.member(identity);
    if (member && member.sid !== sid) return;
    this.leave(room, identity);
  }

  /** The SDP offer a WHIP publisher's leg runs on (its last), if it is a member. */
  whipRemoteDescription(room: string, identity: string): string | undefined {
    return this.rooms.get(room)?.member(identity)?.publisher.remoteDescription?.sdp;
  }

  /** Calls `listener` with each connection state of a WHIP publisher's leg (werift's RTCPeerConnectionState). No-op when it is not a member. */
  whipConnectionState(room: string, identity: string, listener: (state: string) => void): void {
    this.rooms.get(room)?.member(identity)?.publisher.connectionStateChange.subscribe(listener);
  }

  /**
   * Replaces the room's subscription policy (creating the room's SFU if needed) and applies it:
   * subscriptions it no longer implies end, new ones start (e.g. an `mcu` room, where browsers
   * receive only the composite). Call again to re-evaluate a policy whose answers changed.
   */
  setSubscriptionPolicy(room: string, policy: SubscriptionPolicy): void {
    const r = this.room(room);
    r.apply(r.core.setPolicy(policy, Date.now()));
  }

  /** The room's active speakers as last reported (dominant first; see the `active-speakers` event). */
  activeSpeakers(room: string): readonly ActiveSpeaker[] {
    return this.rooms.get(room)?.core.activeSpeakers ?? [];
  }

  /** Browser subscribers in the composite fallback, all rooms (metrics). */
  compositeFallbacks(): number {
    let n = 0;
    for (const r of this.rooms.values()) n += r.core.compositeFallbacks;
    return n;
  }

  /** The room's publications (browsers' and server-side), e.g. for a mixer to subscribe to. */
  publications(room: string): PublicationRef[] {
    return this.rooms.get(room)?.core.publications() ?? [];
  }

  // ------------------------------------------------------------------ totals

  /** Totals over all rooms (leak checks, metrics). */
  stats(): { rooms: number; peerConnections: number; publications: number; downTracks: number } {
    const total = { rooms: this.rooms.size, peerConnections: 0, publications: 0, downTracks: 0 };
    for (const r of this.rooms.values()) {
      const s = r.stats();
      total.peerConnections += s.peerConnections;
      total.publications += s.publications;
      total.downTracks += s.downTracks;
    }
    return total;
  }

  /** Everything the server's metrics expose, sampled at scrape time. */
  metrics(): SfuMetricsSample {
    let participants = 0;
    const layers: Record<string, number> = {};
    for (const r of this.rooms.values()) {
      r.flushMetrics();
      participants += r.size;
      r.core.layerCounts(layers);
    }
    return { ...this.stats(), participants, ...this.counters, ignored: { ...this.counters.ignored }, layers };
  }

  /** Closes every room; resolves when werift has closed every peer connection. */
  async close(): Promise<void> {
    const rooms = [...this.rooms.values()];
    this.rooms.clear();
    for (const r of rooms) {
      r.flushMetrics();
      r.close();
    }
    await Promise.all(rooms.flatMap((r) => [...r.closing]));
  }
}
