/**
 * A browser participant's two werift peer connections (LiveKit's PCTransportManager shape: both
 * legs owned by one object): the *publisher* leg, where the client offers its tracks and the SFU
 * answers, and the *subscriber* leg, where the SFU offers what the participant receives and
 * renegotiates as that changes, one offer in flight at a time. Our ICE candidates are held until
 * the description they belong to has been sent: the first one of a leg, and every later one while
 * it is being made. werift gathers for a renegotiated m-line during setLocalDescription, before
 * we send the description that carries it, and a browser rejects a candidate whose sdpMid is not
 * in its remote description (W3C webrtc-pc, addIceCandidate(): OperationError; Firefox says "No
 * such transceiver").
 */
import { RTCPeerConnection, type RTCDtlsTransport, type RTCPeerConnectionConfig } from 'werift';
import type { IceCandidate, ServerMessage, SessionDescription, SfuPc } from '@dari/protocol';
import { closeConnection, trackTransports } from './patches/index.js';
import type { SfuLogger } from './types.js';
import type { WeriftOutput } from './subscriber-output.js';

/** Negotiation state of the subscriber leg. */
export type SubscriberLegState = 'idle' | 'offering' | 'offering-again';

export class BrowserMember {
  readonly publisher: RTCPeerConnection;
  readonly subscriber: RTCPeerConnection;
  /** Subscriber-leg outputs by their sender's SSRC (a FIR names the SSRC, RFC 5104 §4.3.1). */
  readonly outputsBySsrc = new Map<number, WeriftOutput>();
  /** Set by {@link close}: no more offers (one started on a closing connection would gather new sockets). */
  closed = false;
  private state: SubscriberLegState = 'idle';
  /** A description of the leg has been sent (candidates before the first one are held). */
  private readonly described: Record<SfuPc, boolean> = { publisher: false, subscriber: false };
  /** A new description of the leg is being made: candidates wait for it. */
  private readonly describing: Record<SfuPc, boolean> = { publisher: false, subscriber: false };
  private readonly heldCandidates: Record<SfuPc, IceCandidate[]> = { publisher: [], subscriber: [] };
  /** An ICE restart was asked for and the next subscriber offer carries it. */
  private restartPending = false;

  constructor(
    readonly identity: string,
    readonly sid: string,
    configs: { publisher: RTCPeerConnectionConfig; subscriber: RTCPeerConnectionConfig },
    private readonly io: { send(message: ServerMessage): void; logger: SfuLogger; onSubscriberTransport(transport: RTCDtlsTransport): void },
  ) {
    this.publisher = new RTCPeerConnection(configs.publisher);
    this.subscriber = new RTCPeerConnection(configs.subscriber);
    trackTransports(this.publisher);
    trackTransports(this.subscriber, (t) => io.onSubscriberTransport(t));
    for (const [pc, name] of [[this.publisher, 'publisher'], [this.subscriber, 'subscriber']] as const) {
      pc.onIceCandidate.subscribe((c) => {
        const candidate: IceCandidate = c ? (c.toJSON() as IceCandidate) : null;
        if (this.described[name] && !this.describing[name]) this.io.send({ type: 'sfu-candidate', pc: name, candidate });
        else this.heldCandidates[name].push(candidate);
      });
    }
  }

  /** The subscriber leg's negotiation state. */
  get negotiation(): SubscriberLegState {
    return this.state;
  }

  leg(pc: SfuPc): RTCPeerConnection {
    return pc === 'publisher' ? this.publisher : this.subscriber;
  }

  /**
   * Holds the leg's candidates until its next {@link sendDescription} (call before
   * setLocalDescription), or {@link releaseCandidates} if making it fails.
   */
  holdCandidates(pc: SfuPc): void {
    this.describing[pc] = true;
  }

  /** No new description after all: candidates go out again (once a first description was sent). */
  releaseCandidates(pc: SfuPc): void {
    this.describing[pc] = false;
    if (this.described[pc]) this.flush(pc);
  }

  /** Sends a description, then the candidates gathered before it. */
  sendDescription(pc: SfuPc, description: SessionDescription): void {
    this.io.send({ type: 'sfu-sdp', pc, description });
    this.described[pc] = true;
    this.describing[pc] = false;
    this.flush(pc);
  }

  private flush(pc: SfuPc): void {
    for (const candidate of this.heldCandidates[pc].splice(0)) this.io.send({ type: 'sfu-candidate', pc, candidate });
  }

  /**
   * Sends the subscriber leg's offer, or queues one more after the offer in flight.
   * @param iceRestart with fresh ICE credentials (RFC 8445 §9): the client asked (`sfu-restart-ice`)
   */
  negotiate(iceRestart = false): void {
    if (this.closed) return;
    if (iceRestart) this.restartPending = true;
    if (this.state !== 'idle') {
      this.state = 'offering-again';
      return;
    }
    if (this.subscriber.getTransceivers().length === 0) return;
    this.state = 'offering';
    this.holdCandidates('subscriber');
    const restart = this.restartPending;
    this.restartPending = false;
    void (async () => {
      try {
        const offer = await this.subscriber.createOffer(restart ? { iceRestart: true } : undefined);
        if (this.closed) return;
        await this.subscriber.setLocalDescription(offer);
        this.sendDescription('subscriber', { type: 'offer', sdp: this.subscriber.localDescription!.sdp });
      } catch (err) {
        this.releaseCandidates('subscriber');
        this.state = 'idle';
        this.io.logger.warn({ err: (err as Error).message, identity: this.identity }, 'sfu: subscriber offer failed');
      }
    })();
  }

  /** The client's answer on the subscriber leg: the next queued offer goes out. */
  async answered(description: SessionDescription): Promise<void> {
    await this.subscriber.setRemoteDescription(description);
    const again = this.state === 'offering-again';
    this.state = 'idle';
    if (again) this.negotiate();
  }

  /** Closes both legs; resolves when werift has closed them and every transport they created. */
  close(): Promise<void>[] {
    this.closed = true;
    return [closeConnection(this.publisher), closeConnection(this.subscriber)];
  }
}
