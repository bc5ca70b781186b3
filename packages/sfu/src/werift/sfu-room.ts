/**
 * One room's SFU I/O: the {@link SfuCore} with its endpoints. Browser participants get two werift
 * peer connections ({@link BrowserMember}); their published tracks become {@link WeriftSource}s
 * and each subscription on their subscriber leg a {@link WeriftOutput}. Server-side participants
 * publish and subscribe through local RTP sockets (../local-rtp, api in local-rtp-room.ts). This
 * file feeds the core (with `Date.now()`), carries out its actions, and ticks it every
 * `selectionIntervalMs`. DTLS/SRTP/SCTP and ICE are werift's; what goes where is the core's.
 */
import { RtpPacket, RtcpPayloadSpecificFeedback, type RTCDtlsTransport, type RTCRtpTransceiver, type RtcpPacket } from 'werift';
import type { IceCandidate, ServerMessage, SessionDescription, SfuPc } from '@dari/protocol';
import { SfuCore, type SubscriberFeedback } from '../core/sfu-core.js';
import type { ForwardSink, PublicationRef, PublicationSpec, RtpMeta, SfuAction, SubscriptionRef } from '../core/sfu-core-types.js';
import { filterOfferCodecs, sendingMids } from '../sdp/sdp-policy.js';
import { BrowserMember } from './browser-member.js';
import { FIR_FMT, legConfigs } from './peer-config.js';
import { WeriftSource } from './publication-source.js';
import { WeriftOutput } from './subscriber-output.js';
import type { PublicationSource, SubscriberOutput } from './ports.js';
import type { SfuCounters, SfuOptions } from './types.js';
import { addMetrics, applyActions, type ActionTarget, type SfuRoomHooks, type SourceEntry } from './room-actions.js';

export type { SfuRoomHooks } from './room-actions.js';

export class SfuRoom {
  readonly core: SfuCore;
  /** Browser participants by identity. */
  private readonly members = new Map<string, BrowserMember>();
  /** Publication sources by publication id. */
  private readonly sources = new Map<string, SourceEntry>();
  /** Subscription outputs (werift senders, local RTP sinks). */
  private readonly outputs = new Map<SubscriptionRef, SubscriberOutput>();
  /** Outputs made before their subscription (a local RTP sink), by subscriber id. */
  private readonly pendingOutputs = new Map<string, { output: SubscriberOutput; bind(subscription: SubscriptionRef): void }>();
  private readonly configs: ReturnType<typeof legConfigs>;
  /** Told of every publication once it is published (WHEP viewers take late tracks). */
  private readonly publicationListeners = new Set<(ref: PublicationRef) => void>();
  private timer: NodeJS.Timeout | null = null;
  private nextId = 1;
  /** Set by close(): no more offers, no new endpoints. */
  private closed = false;
  /** Peer connections being closed (werift closes asynchronously). */
  readonly closing = new Set<Promise<unknown>>();
  private readonly weriftSink: ForwardSink<RtpPacket> = { forward: (s, rtp, seq, ts) => this.outputs.get(s)?.forwardWerift(rtp, seq, ts) };
  private readonly bytesSink: ForwardSink<Uint8Array> = { forward: (s, bytes, seq, ts) => this.outputs.get(s)?.forwardBytes(bytes, seq, ts) };
  /** What the core's actions act on (room-actions.ts). */
  private readonly actionTarget: ActionTarget;

  constructor(
    readonly name: string,
    private readonly options: SfuOptions,
    private readonly counters: SfuCounters,
    private readonly hooks: SfuRoomHooks = {},
  ) {
    this.core = new SfuCore(options.core);
    this.configs = legConfigs(options.announcedAddresses, options.portRange);
    const { members, sources, outputs } = this;
    this.actionTarget = { name, options, counters, hooks, members, sources, outputs, openOutput: (sub) => this.openOutput(sub) };
  }

  /** The configuration of a browser's subscriber leg (codecs, header extensions, ICE), for other peer connections that send (WHEP). */
  get subscriberLegConfig(): ReturnType<typeof legConfigs>['subscriber'] {
    return this.configs.subscriber;
  }

  /** Participants (browsers and server-side ones). */
  get size(): number {
    return this.core.stats().participants;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Live peer connections, publications and forwarding tracks, for leak checks and metrics. */
  stats(): { peerConnections: number; publications: number; downTracks: number } {
    const s = this.core.stats();
    return { peerConnections: this.members.size * 2, publications: s.publications, downTracks: s.subscriptions };
  }

  /** A new id for a publication or a subscriber, unique in the room. */
  newId(prefix: string): string {
    return `${prefix}#${this.nextId++}`;
  }

  // ------------------------------------------------------------------ browser participants

  /**
   * A browser participant joined the room's SFU: its two peer connections, and offers of what exists.
   * @param options.send where the SFU's messages to it go (default: `SfuOptions.send`, the signaling connection)
   * @param options.subscribe false for a participant that only publishes (a WHIP publisher): no
   *   subscriber in the core, its subscriber leg never offered. Default true.
   */
  join(identity: string, sid: string, options: { send?: (message: ServerMessage) => void; subscribe?: boolean } = {}): void {
    const existing = this.members.get(identity);
    if (existing?.sid === sid) return; // still a member from before (auto room flipping back)
    if (existing) this.leave(identity);
    if (this.closed) return;
    const member = new BrowserMember(identity, sid, this.configs, {
      send: options.send ?? ((message) => this.options.send(this.name, identity, sid, message)),
      logger: this.options.logger,
      onSubscriberTransport: (t: RTCDtlsTransport) => t.onRtcp.subscribe((rtcp) => this.onSubscriberRtcp(member, rtcp)),
    });
    const now = Date.now();
    const joined = this.core.join(identity, 'browser', now);
    if (joined.some((a) => a.type === 'ignore')) {
      for (const c of member.close()) this.track(c);
      this.options.logger.warn({ room: this.name, identity }, 'sfu: a server-side participant has this identity; browser not joined');
      return;
    }
    this.members.set(identity, member);
    // Video goes to a subscriber once its DTLS transport is up (a keyframe sent before would be
    // lost); select at once when the leg connects, and the tick catches any later transport.
    member.subscriber.connectionStateChange.subscribe((state) => {
      if (state === 'connected' && this.members.get(identity) === member) this.refreshReadiness([...member.outputsBySsrc.values()], Date.now());
    });
    member.publisher.ontrack = (ev) => this.onPublishedTrack(member, ev.transceiver, ev.streams[0]?.id);
    this.apply(joined);
    if (options.subscribe !== false) this.apply(this.core.addSubscriber({ id: identity, participant: identity }, now));
    this.startTimer();
  }

  /** The peer connections of a browser participant (or WHIP publisher), if it is a member. */
  member(identity: string): BrowserMember | undefined {
    return this.members.get(identity);
  }

  /** A participant (browser or server-side) left: its connections close and its tracks stop being forwarded. */
  leave(identity: string): void {
    const m = this.members.get(identity);
    if (m) {
      this.members.delete(identity);
      for (const c of m.close()) this.track(c);
    }
    this.apply(this.core.leave(identity, Date.now()));
    for (const [id, e] of this.sources) {
      if (e.participant !== identity) continue;
      e.source.close();
      this.sources.delete(id);
    }
    if (this.core.stats().participants === 0) this.stopTimer();
  }

  /** An sfu-sdp or sfu-candidate from a participant. */
  async handle(identity: string, pc: SfuPc, body: { description?: SessionDescription; candidate?: IceCandidate }): Promise<void> {
    const m = this.members.get(identity);
    if (!m) return;
    if (body.candidate !== undefined) {
      if (body.candidate) await m.leg(pc).addIceCandidate(body.candidate as never);
      return;
    }
    const d = body.description!;
    if (pc === 'publisher' && d.type === 'offer') {
      m.holdCandidates('publisher'); // until the answer that carries the offer's new m-lines
      try {
        // Only the H.264 formats the SFU forwards stay in what werift answers (sdp-policy.ts).
        await m.publisher.setRemoteDescription({ type: 'offer', sdp: filterOfferCodecs(d.sdp) });
        // Tracks the client stopped sending (unpublished) stop being forwarded.
        const sending = sendingMids(d.sdp);
        for (const [id, e] of [...this.sources]) {
          if (!(e.source instanceof WeriftSource) || e.participant !== identity || (e.source.mid !== null && sending.has(e.source.mid))) continue;
          this.unpublish(id);
        }
        await m.publisher.setLocalDescription(await m.publisher.createAnswer());
        m.sendDescription('publisher', { type: 'answer', sdp: m.publisher.localDescription!.sdp });
      } finally {
        m.releaseCandidates('publisher');
      }
    } else if (pc === 'subscriber' && d.type === 'answer') {
      await m.answered(d);
    }
  }

  /** The participant asked for an ICE restart of its subscriber leg (`sfu-restart-ice`): a new offer with fresh credentials. */
  restartIce(identity: string): void {
    this.members.get(identity)?.negotiate(true);
  }

  /** Adaptive stream: `identity` renders `publisher`'s video `streamId` at this size, device pixels. */
  trackSettings(identity: string, publisher: string, streamId: string, width: number, height: number): void {
    this.apply(this.core.trackSettings(identity, publisher, streamId, width, height, Date.now()));
  }

  /** A track a browser offered on its publisher leg. */
  private onPublishedTrack(member: BrowserMember, transceiver: RTCRtpTransceiver, streamId: string | undefined): void {
    if (this.members.get(member.identity) !== member) return;
    const codec = WeriftSource.codecOf(transceiver);
    if (!codec) {
      this.options.logger.warn({ room: this.name, identity: member.identity, codecs: transceiver.codecs.map((c) => c.mimeType) }, 'sfu: published track in a codec the SFU does not forward; not published');
      return;
    }
    const source = new WeriftSource(this.newId(member.identity), member.identity, transceiver, streamId ?? member.identity, codec, this.options.logger);
    const ref = this.addSource(source.spec, source);
    if (!ref) return;
    source.start(
      (layer: number, meta: RtpMeta, rtp: RtpPacket) => {
        const actions = this.core.rtp(ref, layer, meta, rtp, Date.now(), this.weriftSink);
        if (actions.length > 0) this.apply(actions);
      },
      () => this.counters.nackSent++,
    );
  }

  // ------------------------------------------------------------------ endpoints of any kind

  /** Publishes `spec` from `source`; undefined (and the source closed) when the core refused it. */
  addSource(spec: PublicationSpec, source: PublicationSource): PublicationRef | undefined {
    const actions = this.core.publish(spec, Date.now());
    const ref = this.core.publication(spec.id);
    if (!ref) {
      source.close();
      this.apply(actions);
      return undefined;
    }
    this.sources.set(spec.id, { source, participant: spec.participant });
    this.apply(actions);
    for (const listener of this.publicationListeners) {
      try {
        listener(ref);
      } catch (err) {
        this.options.logger.warn({ room: this.name, publication: spec.id, err: (err as Error).message }, 'sfu: a publication listener threw; the publication stands');
      }
    }
    return ref;
  }

  /** Calls `listener` with each publication made from now on. @returns a function that stops it */
  onPublication(listener: (ref: PublicationRef) => void): () => void {
    this.publicationListeners.add(listener);
    return () => this.publicationListeners.delete(listener);
  }

  /** Stops a publication and its source. */
  unpublish(id: string): void {
    const e = this.sources.get(id);
    this.sources.delete(id);
    e?.source.close();
    this.apply(this.core.unpublish(id, Date.now()));
  }

  /** Feeds one datagram of a local RTP source (see local-rtp-room.ts). */
  rtpBytes(ref: PublicationRef, meta: RtpMeta, bytes: Uint8Array): void {
    const actions = this.core.rtp(ref, 0, meta, bytes, Date.now(), this.bytesSink);
    if (actions.length > 0) this.apply(actions);
  }

  /** Registers an output made ahead of its subscription; `bind` runs when the core subscribes `subscriber`. */
  expectOutput(subscriber: string, output: SubscriberOutput, bind: (subscription: SubscriptionRef) => void): void {
    this.pendingOutputs.set(subscriber, { output, bind });
  }

  /** The output of a subscription, if it has one. */
  output(subscription: SubscriptionRef): SubscriberOutput | undefined {
    return this.outputs.get(subscription);
  }

  /** A subscriber's RTCP feedback (PLI, FIR, NACK, REMB) into the core. */
  feedback(fb: SubscriberFeedback): void {
    this.apply(this.core.feedback(fb, Date.now()));
  }

  // ------------------------------------------------------------------ the core's actions

  /** Carries out the core's actions. */
  apply(actions: readonly SfuAction[]): void {
    applyActions(this.actionTarget, actions);
  }

  /** Makes the output of a new subscription: a sender on a browser's leg, or the output waiting for it. */
  private openOutput(sub: SubscriptionRef): void {
    const member = this.members.get(sub.subscriber);
    if (member) {
      const out = new WeriftOutput(member, sub, (fb) => this.feedback(fb));
      this.outputs.set(sub, out);
      this.refreshReadiness([out], Date.now());
      return;
    }
    const pending = this.pendingOutputs.get(sub.subscriber);
    if (!pending) return;
    this.pendingOutputs.delete(sub.subscriber);
    this.outputs.set(sub, pending.output);
    pending.bind(sub);
  }

  /** Tells the core which werift outputs' transports went up or down. */
  private refreshReadiness(outputs: Iterable<WeriftOutput>, now: number): void {
    for (const out of outputs) {
      const connected = out.connected;
      if (connected === out.reportedReady || out.subscription.closed) continue;
      out.reportedReady = connected;
      this.apply(this.core.subscriptionReady(out.subscription, connected, now));
    }
  }

  /**
   * FIRs (RFC 5104 §4.3.1) on a subscriber leg's transport. werift routes payload-specific
   * feedback by the media SSRC field, which a FIR sets to 0, so none reaches a sender: the
   * SSRCs are in the FCI entries.
   */
  private onSubscriberRtcp(member: BrowserMember, rtcp: RtcpPacket): void {
    if (!(rtcp instanceof RtcpPayloadSpecificFeedback) || rtcp.feedback.count !== FIR_FMT) return;
    const entries = (rtcp.feedback as unknown as { fir?: { ssrc: number }[] }).fir ?? [];
    for (const { ssrc } of entries) {
      const out = member.outputsBySsrc.get(ssrc);
      if (out) this.feedback({ type: 'fir', subscription: out.subscription });
    }
  }

  // ------------------------------------------------------------------ time and lifecycle

  /** Starts the tick (layer selection, dynacast, active speakers, metrics) if not running. */
  startTimer(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => this.tick(), this.options.selectionIntervalMs ?? 250);
    this.timer.unref();
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    const now = Date.now();
    const werift: WeriftOutput[] = [];
    for (const out of this.outputs.values()) if (out instanceof WeriftOutput) werift.push(out);
    this.refreshReadiness(werift, now);
    this.apply(this.core.tick(now));
  }

  /** Counters since the last tick (call before reading the totals). */
  flushMetrics(): void {
    addMetrics(this.counters, this.core.takeMetrics());
  }

  private track(c: Promise<unknown>): void {
    this.closing.add(c);
    void c.finally(() => this.closing.delete(c));
  }

  /** Closes every connection and socket. */
  close(): void {
    this.closed = true;
    for (const m of this.members.values()) m.closed = true;
    for (const id of this.core.participantIds()) this.leave(id);
    for (const p of this.pendingOutputs.values()) p.output.close();
    this.pendingOutputs.clear();
    this.stopTimer();
  }
}
