/**
 * `Room`: the SDK's entry point, shaped like LiveKit's (`new Room()`, `room.connect(url, token)`,
 * `room.localParticipant`, `room.remoteParticipants`, typed events) with OpenVidu's signals
 * (`room.sendSignal(type, data, to)`, events `signal:<type>`). Media is a full mesh: one
 * {@link PeerLink} per remote participant.
 */
import {
  ErrorCode,
  SignalingError,
  type IceCandidate,
  type IceServer,
  type SessionDescription,
  type ParticipantInfo,
  type ServerMessage,
  type ServerMessageOf,
  type SignalIn,
  type TrackInfo,
} from '@dari/protocol';
import { TypedEmitter } from './events.js';
import { SignalClient, type SignalState } from './signal-client.js';
import { PeerLink } from './peer.js';
import { LocalParticipant, RemoteParticipant, RemoteTrackPublication, type LocalTrack, type Participant } from './participant.js';
import { FILE_CHANNEL_PREFIX, receiveFileOn, sendFileOver, type FileProgress, type ReceivedFile } from './file-transfer.js';
import { StatsSampler, type ConnectionInfo } from './stats.js';

export type ConnectionState = SignalState;

/** Key of SFU tracks whose owner is not known yet. */
const SFU_UNMATCHED = '\u0000sfu';

/** Which connection delivers a remote track: the mesh link to its publisher, or the SFU. */
export type MediaPath = 'p2p' | 'sfu';

/** A received track not yet handed to the app. */
interface PendingTrack {
  ev: RTCTrackEvent;
  path: MediaPath;
  /** Decoding (or timed out waiting): may replace a track of the other path without a freeze. */
  ready: boolean;
  watching: boolean;
}

/** How long a topology switch may keep both paths before the old one is closed anyway, ms. */
const SWITCH_TIMEOUT_MS = 10_000;
/** How long a new-path track may take to decode before it replaces the old one anyway, ms. */
const READY_TIMEOUT_MS = 4_000;

/**
 * Simulcast layers of camera video on the SFU publisher leg (RFC 8853 rids: quarter, half and
 * full resolution; bitrates in bps).
 */
export const SIMULCAST_ENCODINGS: readonly RTCRtpEncodingParameters[] = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];

/**
 * The simulcast encodings for a capture of `width`×`height` pixels: libwebrtc sends at most
 * three layers from 540p up, two from 270p and one below, dropping the lowest ones; so q/h/f
 * from 540p, h/f from 270p, and no simulcast below (a lone quarter-size layer would look bad).
 * @returns encodings for RTCRtpTransceiverInit.sendEncodings, or undefined for a single encoding
 */
export function simulcastEncodings(width: number, height: number): RTCRtpEncodingParameters[] | undefined {
  const short = Math.min(width, height);
  if (short >= 540) return SIMULCAST_ENCODINGS.map((e) => ({ ...e }));
  if (short >= 270) return SIMULCAST_ENCODINGS.slice(1).map((e) => ({ ...e }));
  return undefined;
}

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
  /** A typed error the server sent for one of our messages. */
  error: (error: SignalingError) => void;
  /** `sfu` rooms: who speaks now, dominant speaker first, the local participant included; `[]` = nobody. */
  activeSpeakersChanged: (speakers: Participant[]) => void;
}

export interface RoomOptions {
  /** ICE servers to use instead of the list the server hands out at join. */
  iceServers?: IceServer[];
  /** `relay` forces every peer connection through TURN (W3C webrtc-pc §4.2.1). Default `all`. */
  iceTransportPolicy?: RTCIceTransportPolicy;
  /**
   * Publish camera video to the SFU in simulcast layers (q, h, f: three from 540p captures, h and
   * f from 270p, one below; see {@link simulcastEncodings}). Default true. P2P links always send
   * one encoding.
   */
  simulcast?: boolean;
}

export interface ConnectOptions {
  /** Participant metadata (≤ 4 KiB), visible to everyone in the room. */
  metadata?: string;
}

export class Room extends TypedEmitter<RoomEvents> {
  /** Room name, known once connected. */
  name = '';
  readonly localParticipant: LocalParticipant;
  /** Remote participants by identity. */
  readonly remoteParticipants = new Map<string, RemoteParticipant>();
  /** Who speaks now, dominant speaker first (`sfu` rooms, from the server's `active-speakers`). */
  activeSpeakers: Participant[] = [];
  private readonly signal = new SignalClient();
  private readonly peers = new Map<string, PeerLink>();
  private readonly samplers = new Map<string, StatsSampler>();
  private readonly pendingTracks = new Map<string, PendingTrack[]>();
  /** During a topology switch: the path each remote said it has moved to (control channel). */
  private readonly remoteMoved = new Map<string, MediaPath>();
  /** During a topology switch: the path we told each remote we moved to. */
  private readonly movedSent = new Map<string, MediaPath>();
  /** Bumped by teardown: pollers of an older connection stop. */
  private generation = 0;
  private switchTimer: ReturnType<typeof setTimeout> | null = null;
  private iceServers: IceServer[] = [];
  /** Scale-out: the node the room lives on (`joined.node`), to notice when it moves. */
  private roomNode: string | undefined;
  /** Media topology of the room, from `joined` and `room-mode`. */
  mode: MediaPath = 'p2p';
  /** In `sfu` mode: the publisher and subscriber legs to the SFU. */
  private sfu: { publisher: PeerLink; subscriber: PeerLink } | null = null;

  constructor(private readonly options: RoomOptions = {}) {
    super();
    this.localParticipant = new LocalParticipant({
      published: (t) => {
        for (const peer of this.peers.values()) peer.addTrack(t);
        this.sfu?.publisher.addTrack(t);
        this.emit('localTrackPublished', t);
      },
      replaced: (t) => {
        for (const peer of this.peers.values()) void peer.replaceTrack(t);
        if (this.sfu) void this.sfu.publisher.replaceTrack(t);
      },
      unpublished: (t) => {
        for (const peer of this.peers.values()) peer.removeTrack(t.sid);
        this.sfu?.publisher.removeTrack(t.sid);
        this.emit('localTrackUnpublished', t);
      },
      changed: () => this.sendUpdate(),
    });
    this.signal.on('state', (s) => this.emit('connectionStateChanged', s));
    this.signal.on('joined', (m) => this.onJoined(m));
    this.signal.on('message', (m) => this.onMessage(m));
    this.signal.on('closed', (reason) => {
      this.teardown();
      this.localParticipant.stopAll();
      this.emit('disconnected', reason);
    });
  }

  get state(): ConnectionState {
    return this.signal.state;
  }

  /**
   * Connects to `dari serve` and joins the token's room. Tracks enabled before connecting are
   * published on join.
   * @param url the server's base URL (http(s):// or ws(s)://); `/rtc` is appended
   * @param token an access token from `dari token`, `POST /api/token` or the dev endpoint
   * @throws SignalingError with the server's code (TOKEN_EXPIRED, TOKEN_INVALID, ROOM_FULL, …)
   */
  async connect(url: string, token: string, options: ConnectOptions = {}): Promise<void> {
    await this.signal.connect(url, token, options.metadata);
  }

  /** Leaves the room, closes every peer connection and stops local capture. */
  disconnect(): void {
    this.signal.disconnect();
    this.localParticipant.stopAll();
  }

  /**
   * Sends an application signal, OpenVidu-style.
   * @param to identities; empty or omitted = everyone in the room, the sender included
   * @throws SignalingError NOT_JOINED when not connected
   */
  sendSignal(type: string, data = '', to: string[] = []): void {
    if (!this.signal.send({ type: 'signal', signal: { type, data, to } })) {
      throw new SignalingError(ErrorCode.NOT_JOINED, 'not connected to a room');
    }
  }

  /**
   * Sends a file to one participant over a P2P data channel, with progress events
   * (`fileProgress`) and a SHA-256 check at the receiver.
   * In an SFU room the file goes over a data-only P2P link opened on demand.
   * @returns the hex SHA-256 the receiver confirmed
   * @throws SignalingError TARGET_NOT_FOUND when `to` is not in the room; Error on integrity failure
   */
  async sendFile(file: Blob, to: string, name = (file as File).name ?? 'file'): Promise<string> {
    const remote = this.remoteParticipants.get(to);
    if (!remote) throw new SignalingError(ErrorCode.TARGET_NOT_FOUND, `no participant ${JSON.stringify(to)}`);
    // In an SFU room files still go peer to peer: a data-only link is opened on demand.
    const peer = this.peers.get(to) ?? this.createPeer(remote, true);
    return sendFileOver(peer.pc, file, name, to, (p) => this.emit('fileProgress', p));
  }

  /**
   * Path and quality per remote participant, from getStats() (W3C webrtc-stats): `via` says
   * whether its media comes over the mesh link or the SFU subscriber leg; the selected candidate
   * pair, RTT (ms) and bitrates (bps, over about the last second) are that connection's (shared
   * by everyone on the SFU leg); inbound media is the participant's own tracks.
   * @param identity only this participant; default all
   */
  async getConnectionInfo(identity?: string): Promise<ConnectionInfo[]> {
    const sampler = (id: string) => {
      let s = this.samplers.get(id);
      if (!s) this.samplers.set(id, (s = new StatsSampler()));
      return s;
    };
    const jobs: Promise<ConnectionInfo>[] = [];
    for (const p of this.remoteParticipants.values()) {
      if (identity !== undefined && p.identity !== identity) continue;
      // Each participant's media comes over whichever path delivers its tracks now.
      const viaSfu = [...p.tracks.values()].some((t) => t.track && t.path === 'sfu') || (this.mode === 'sfu' && !this.peers.get(p.identity)?.media);
      if (viaSfu && this.sfu) {
        const ids = new Set([...p.tracks.values()].flatMap((t) => (t.track && t.path === 'sfu' ? [t.track.id] : [])));
        jobs.push(sampler(`sfu:${p.identity}`).sample(p.identity, this.sfu.subscriber.pc, 'sfu', ids));
      } else {
        const peer = this.peers.get(p.identity);
        if (peer) jobs.push(sampler(`p2p:${p.identity}`).sample(p.identity, peer.pc, 'p2p'));
      }
    }
    return Promise.all(jobs);
  }

  /**
   * The RTCPeerConnection to a participant, for advanced use; in `sfu` mode `sfu` names the
   * subscriber leg (all received media) and `sfu:publisher` the publisher leg.
   */
  getPeerConnection(identity: string): RTCPeerConnection | undefined {
    if (identity === 'sfu') return this.sfu?.subscriber.pc;
    if (identity === 'sfu:publisher') return this.sfu?.publisher.pc;
    return this.peers.get(identity)?.pc;
  }

  private sendUpdate(): void {
    if (this.signal.state === 'connected' || this.signal.state === 'reconnecting') {
      this.signal.send({ type: 'update', tracks: this.localParticipant.trackInfos() });
    }
  }

  private onJoined(m: ServerMessageOf<'joined'>): void {
    this.name = m.room;
    const lp = this.localParticipant;
    lp.sid = m.participant.sid;
    lp.identity = m.participant.identity;
    lp.name = m.participant.name;
    lp.grants = m.participant.grants;
    this.iceServers = this.options.iceServers ?? m.iceServers;
    // Scale-out: the session resumed on another node (the old one died or drained). Peer
    // connections survive; the SFU legs went with the old node, so they are set up again.
    const moved = m.resumed && m.node !== undefined && this.roomNode !== undefined && m.node !== this.roomNode;
    this.roomNode = m.node;
    if (moved && this.sfu) {
      this.sfu.publisher.close();
      this.sfu.subscriber.close();
      this.sfu = null;
      if (this.mode === 'sfu') this.connectSfu();
    }
    if (m.resumed) {
      // Same session: peer connections survived. Reconcile presence that changed meanwhile.
      const present = new Set(m.participants.map((p) => p.identity));
      for (const p of [...this.remoteParticipants.values()]) if (!present.has(p.identity)) this.removeRemote(p.identity);
      for (const info of m.participants) {
        if (this.remoteParticipants.has(info.identity)) this.updateRemote(info);
        else this.addRemote(info, false); // joined while we were away: they offer to us
      }
      this.setMode(m.mode);
      return;
    }
    this.teardown();
    this.mode = m.mode;
    if (lp.tracks.size > 0) {
      if (lp.grants.canPublish) this.sendUpdate();
      else lp.stopAll();
    }
    if (m.mode === 'sfu') this.connectSfu();
    // In a mesh the newcomer offers to everyone already there; they answer (docs/protocol.md#mesh).
    for (const info of m.participants) this.addRemote(info, m.mode === 'p2p');
  }

  /**
   * The room's topology changed. Make-before-break: the new path is set up while media keeps
   * flowing on the old one; each remote track is replaced once its new-path copy decodes
   * (`trackSubscribed` fires again with the new track), and the old path is closed when both
   * ends have moved (they tell each other on the mesh control channel), or after
   * {@link SWITCH_TIMEOUT_MS}.
   */
  private setMode(mode: MediaPath): void {
    if (mode === this.mode) return;
    this.mode = mode;
    this.movedSent.clear();
    this.armSwitchTimer();
    // Flipping back before the old path was closed: its tracks are still live, take them back.
    for (const p of this.remoteParticipants.values()) {
      for (const pub of p.tracks.values()) {
        const back = pub.trackOn(mode);
        if (!back || pub.track === back) continue;
        pub.track = back;
        pub.path = mode;
        this.emit('trackSubscribed', back, pub, p);
      }
    }
    if (mode === 'sfu') {
      if (!this.sfu) this.connectSfu();
      // Render sizes first, so the SFU does not start everyone on the top layer.
      for (const p of this.remoteParticipants.values()) for (const pub of p.tracks.values()) this.sendTrackSettings(p.identity, pub);
    } else {
      for (const p of this.remoteParticipants.values()) {
        const peer = this.peers.get(p.identity);
        if (peer) peer.enableMedia();
        // One side offers: the impolite one (larger sid); the other answers into its transceivers.
        else if (this.localParticipant.sid > p.sid) this.createPeer(p, true);
      }
    }
    for (const p of [...this.remoteParticipants.values()]) this.matchPendingTracks(p);
    this.finishSwitch(false);
  }

  private armSwitchTimer(): void {
    if (this.switchTimer) clearTimeout(this.switchTimer);
    this.switchTimer = setTimeout(() => this.finishSwitch(true), SWITCH_TIMEOUT_MS);
  }

  /** Whether the new path carries media at all (the old one is only force-closed then). */
  private newPathUp(): boolean {
    if (this.mode === 'sfu') return this.sfu?.subscriber.pc.connectionState === 'connected' || this.remoteParticipants.size === 0;
    for (const p of this.remoteParticipants.values()) if (this.peers.get(p.identity)?.pc.connectionState !== 'connected') return false;
    return true;
  }

  /** Tells a peer, once per switch, that we receive it over `path` now. */
  private sendMoved(identity: string, path: MediaPath): void {
    if (this.movedSent.get(identity) === path) return;
    const peer = this.peers.get(identity);
    if (!peer) return;
    this.movedSent.set(identity, path);
    peer.sendControl({ t: 'moved', path });
  }

  /** Whether every track of `p` that the app has comes over the current path. */
  private movedFrom(p: RemoteParticipant): boolean {
    for (const pub of p.tracks.values()) if (pub.track && pub.path !== this.mode) return false;
    return true;
  }

  /**
   * Closes what the old path no longer carries: a mesh link once both ends receive each other
   * through the SFU; the SFU legs once every remote and we receive over the mesh.
   * @param force the switch timed out: close the old path now, if the new one is up (else wait
   *   another {@link SWITCH_TIMEOUT_MS}: a dead new path must not take the old one with it)
   */
  private finishSwitch(force: boolean): void {
    if (force && !this.newPathUp()) {
      this.armSwitchTimer();
      return;
    }
    if (this.mode === 'sfu') {
      for (const p of this.remoteParticipants.values()) {
        const peer = this.peers.get(p.identity);
        if (!peer || !peer.media) continue;
        const moved = this.movedFrom(p);
        if (moved) this.sendMoved(p.identity, 'sfu');
        if (force || (moved && this.remoteMoved.get(p.identity) === 'sfu')) {
          peer.close();
          this.peers.delete(p.identity);
          this.remoteMoved.delete(p.identity);
        }
      }
    } else if (this.sfu) {
      let all = true;
      for (const p of this.remoteParticipants.values()) {
        const moved = this.movedFrom(p);
        if (moved) this.sendMoved(p.identity, 'p2p');
        if (!moved || this.remoteMoved.get(p.identity) !== 'p2p') all = false;
      }
      if (force || all) {
        this.sfu.publisher.close();
        this.sfu.subscriber.close();
        this.sfu = null;
        this.signal.send({ type: 'sfu-leave' });
        this.remoteMoved.clear();
      }
    }
    if (force) {
      for (const list of this.pendingTracks.values()) for (const t of list) t.ready = true;
      for (const p of [...this.remoteParticipants.values()]) this.matchPendingTracks(p);
    }
    const done = this.mode === 'sfu' ? ![...this.peers.values()].some((p) => p.media) : this.sfu === null;
    if (done && this.switchTimer) {
      clearTimeout(this.switchTimer);
      this.switchTimer = null;
    }
  }

  /** The two SFU legs: we offer on the publisher one, the SFU offers on the subscriber one. */
  private connectSfu(): void {
    const config = { iceServers: this.iceServers as RTCIceServer[], iceTransportPolicy: this.options.iceTransportPolicy ?? 'all' };
    const leg = (pc: 'publisher' | 'subscriber') => ({
      sendDescription: (description: SessionDescription) => this.signal.send({ type: 'sfu-sdp', pc, description }),
      sendCandidate: (candidate: IceCandidate) => this.signal.send({ type: 'sfu-candidate', pc, candidate }),
      onTrack: (ev: RTCTrackEvent) => {
        // Forwarded tracks keep the publisher's a=msid stream id: find whose it is.
        const owner = [...this.remoteParticipants.values()].find((p) => p.info.tracks.some((t) => t.streamId === ev.streams[0]?.id));
        this.queueTrack(owner?.identity ?? SFU_UNMATCHED, ev, 'sfu');
      },
      onDataChannel: () => undefined,
      onConnectionState: (state: RTCPeerConnectionState) => this.emit('peerConnectionStateChanged', `sfu:${pc}`, state),
    });
    const encodings =
      this.options.simulcast === false
        ? undefined
        : (track: MediaStreamTrack) => {
            const { width = 0, height = 0 } = track.getSettings();
            return simulcastEncodings(width, height);
          };
    this.sfu = {
      publisher: new PeerLink('sfu:publisher', true, config, () => [...this.localParticipant.tracks.values()], leg('publisher'), true, true, true, encodings),
      subscriber: new PeerLink('sfu', true, config, () => [], leg('subscriber'), false, false),
    };
  }

  private onMessage(m: ServerMessage): void {
    switch (m.type) {
      case 'participant-joined': {
        const known = this.remoteParticipants.get(m.participant.identity);
        if (known?.sid === m.participant.sid) {
          this.updateRemote(m.participant);
          break;
        }
        if (known) this.removeRemote(known.identity);
        this.addRemote(m.participant, false);
        break;
      }
      case 'participant-updated':
        if (this.remoteParticipants.has(m.participant.identity)) this.updateRemote(m.participant);
        break;
      case 'participant-left':
        if (this.remoteParticipants.get(m.identity)?.sid === m.sid) this.removeRemote(m.identity);
        break;
      case 'sdp': {
        const remote = this.remoteParticipants.get(m.from);
        if (!remote || remote.sid !== m.fromSid) break;
        const peer = this.peers.get(m.from) ?? this.createPeer(remote, false);
        void peer.handleDescription(m.description);
        break;
      }
      case 'candidate': {
        const remote = this.remoteParticipants.get(m.from);
        if (!remote || remote.sid !== m.fromSid) break;
        const peer = this.peers.get(m.from) ?? this.createPeer(remote, false);
        void peer.handleCandidate(m.candidate);
        break;
      }
      case 'signal':
        this.emit('signal', m.signal);
        this.emit(`signal:${m.signal.type}`, m.signal);
        break;
      case 'error':
        this.emit('error', new SignalingError(m.code as ErrorCode, m.message, m.details));
        break;
      case 'sfu-sdp':
        void (m.pc === 'publisher' ? this.sfu?.publisher : this.sfu?.subscriber)?.handleDescription(m.description);
        break;
      case 'sfu-candidate':
        void (m.pc === 'publisher' ? this.sfu?.publisher : this.sfu?.subscriber)?.handleCandidate(m.candidate);
        break;
      case 'room-mode':
        this.setMode(m.mode);
        break;
      case 'publisher-layers': {
        const t = [...this.localParticipant.tracks.values()].find((x) => x.stream.id === m.streamId);
        if (t) this.sfu?.publisher.setActiveEncodings(t.sid, m.rids);
        break;
      }
      case 'active-speakers':
        this.onActiveSpeakers(m);
        break;
      case 'pong':
      case 'closing':
      case 'joined':
        break;
    }
  }

  /** Marks who speaks (`isSpeaking`, `audioLevel`) and emits `activeSpeakersChanged`; unknown identities are skipped. */
  private onActiveSpeakers(m: ServerMessageOf<'active-speakers'>): void {
    for (const p of this.activeSpeakers) {
      p.isSpeaking = false;
      p.audioLevel = 0;
    }
    const lp = this.localParticipant;
    this.activeSpeakers = m.speakers.flatMap(({ identity, level }) => {
      const p = identity === lp.identity ? lp : this.remoteParticipants.get(identity);
      if (!p) return [];
      p.isSpeaking = true;
      p.audioLevel = level;
      return [p];
    });
    this.emit('activeSpeakersChanged', [...this.activeSpeakers]);
  }

  /** A remote publication whose adaptive-stream size goes to the SFU. */
  private newPublication(identity: string, info: TrackInfo): RemoteTrackPublication {
    return new RemoteTrackPublication(info, (pub) => this.sendTrackSettings(identity, pub));
  }

  /** Tells the SFU how large we render `identity`'s video (only while it comes through the SFU). */
  private sendTrackSettings(identity: string, pub: RemoteTrackPublication): void {
    if (!pub.dimensions || pub.kind !== 'video' || this.mode !== 'sfu') return;
    this.signal.send({ type: 'track-settings', participant: identity, trackSid: pub.sid, width: pub.dimensions.width, height: pub.dimensions.height });
  }

  private addRemote(info: ParticipantInfo, offer: boolean): void {
    const p = new RemoteParticipant(info);
    for (const t of info.tracks) p.tracks.set(t.sid, this.newPublication(info.identity, t));
    this.remoteParticipants.set(info.identity, p);
    this.emit('participantConnected', p);
    if (offer) this.createPeer(p, true);
  }

  private updateRemote(info: ParticipantInfo): void {
    const p = this.remoteParticipants.get(info.identity)!;
    p.info = info;
    const current = new Set(info.tracks.map((t) => t.sid));
    for (const [sid, pub] of [...p.tracks]) {
      if (current.has(sid)) continue;
      p.tracks.delete(sid);
      if (pub.track) this.emit('trackUnsubscribed', pub.track, pub, p);
    }
    for (const t of info.tracks) {
      const pub = p.tracks.get(t.sid);
      if (!pub) {
        p.tracks.set(t.sid, this.newPublication(info.identity, t));
        continue;
      }
      const wasMuted = pub.muted;
      pub.info = t;
      if (pub.track && wasMuted !== t.muted) this.emit(t.muted ? 'trackMuted' : 'trackUnmuted', pub, p);
    }
    this.matchPendingTracks(p);
    this.emit('participantUpdated', p);
  }

  private removeRemote(identity: string): void {
    const p = this.remoteParticipants.get(identity);
    if (!p) return;
    this.remoteParticipants.delete(identity);
    this.peers.get(identity)?.close();
    this.peers.delete(identity);
    this.remoteMoved.delete(identity);
    this.samplers.delete(`p2p:${identity}`);
    this.samplers.delete(`sfu:${identity}`);
    this.pendingTracks.delete(identity);
    for (const pub of p.tracks.values()) if (pub.track) this.emit('trackUnsubscribed', pub.track, pub, p);
    this.emit('participantDisconnected', p);
  }

  /**
   * A mesh link to `remote`. In a P2P room it carries media; in an SFU room it is data-only
   * (files), unless the room switches back to P2P.
   */
  private createPeer(remote: RemoteParticipant, initiator: boolean): PeerLink {
    const identity = remote.identity;
    // Deterministic roles: the peer with the smaller sid is polite (webrtc-pc §10.7).
    const polite = this.localParticipant.sid < remote.sid;
    const peer = new PeerLink(
      identity,
      polite,
      { iceServers: this.iceServers as RTCIceServer[], iceTransportPolicy: this.options.iceTransportPolicy ?? 'all' },
      () => [...this.localParticipant.tracks.values()],
      {
        sendDescription: (description) => this.signal.send({ type: 'sdp', to: identity, description }),
        sendCandidate: (candidate) => this.signal.send({ type: 'candidate', to: identity, candidate }),
        onTrack: (ev) => this.queueTrack(identity, ev, 'p2p'),
        onControl: (message) => {
          const msg = message as { t?: unknown; path?: unknown };
          if (msg.t !== 'moved' || (msg.path !== 'p2p' && msg.path !== 'sfu')) return;
          this.remoteMoved.set(identity, msg.path);
          this.finishSwitch(false);
        },
        onDataChannel: (channel) => {
          if (!channel.label.startsWith(FILE_CHANNEL_PREFIX)) return;
          receiveFileOn(
            channel,
            identity,
            (progress) => this.emit('fileProgress', progress),
            (result) => (result instanceof Error ? this.emit('fileFailed', result, identity) : this.emit('fileReceived', result)),
          );
        },
        onConnectionState: (state) => this.emit('peerConnectionStateChanged', identity, state),
      },
      initiator,
      true,
      this.mode === 'p2p',
    );
    this.peers.set(identity, peer);
    return peer;
  }

  private queueTrack(key: string, ev: RTCTrackEvent, path: MediaPath): void {
    const list = this.pendingTracks.get(key) ?? [];
    list.push({ ev, path, ready: false, watching: false });
    this.pendingTracks.set(key, list);
    const p = this.remoteParticipants.get(key);
    if (p) this.matchPendingTracks(p);
  }

  /**
   * Pairs received RTCTrackEvents with announced publications by a=msid stream id. A track of
   * the current path that replaces one of the other path waits until it decodes.
   */
  private matchPendingTracks(p: RemoteParticipant): void {
    // SFU tracks that arrived before their owner's track list: claim those that are p's.
    const unmatched = this.pendingTracks.get(SFU_UNMATCHED);
    if (unmatched) {
      const mine = unmatched.filter((t) => p.info.tracks.some((i) => i.streamId === t.ev.streams[0]?.id));
      if (mine.length > 0) {
        this.pendingTracks.set(SFU_UNMATCHED, unmatched.filter((t) => !mine.includes(t)));
        this.pendingTracks.set(p.identity, [...(this.pendingTracks.get(p.identity) ?? []), ...mine]);
      }
    }
    const list = this.pendingTracks.get(p.identity);
    if (list) {
      const rest: PendingTrack[] = [];
      for (const pending of list) {
        const { ev, path } = pending;
        if (path !== this.mode || ev.track.readyState === 'ended') continue; // the old path's late arrivals
        const streamId = ev.streams[0]?.id;
        const pub = [...p.tracks.values()].find((t) => t.info.streamId === streamId && t.kind === ev.track.kind);
        if (!pub) {
          rest.push(pending);
          continue;
        }
        if (pub.track === ev.track) continue;
        if (pub.track && pub.path !== path && !pending.ready) {
          rest.push(pending);
          this.watchReady(pending, p.identity);
          continue;
        }
        pub.track = ev.track;
        pub.path = path;
        pub.setTrackOn(path, ev.track);
        if (path === 'sfu') this.sendTrackSettings(p.identity, pub);
        this.emit('trackSubscribed', ev.track, pub, p);
      }
      if (rest.length > 0) this.pendingTracks.set(p.identity, rest);
      else this.pendingTracks.delete(p.identity);
    }
    this.finishSwitch(false);
  }

  /** Polls a new-path receiver until it decodes (video) or receives (audio), then retries the match. */
  private watchReady(pending: PendingTrack, identity: string): void {
    if (pending.watching) return;
    pending.watching = true;
    const start = Date.now();
    const generation = this.generation;
    const poll = async (): Promise<void> => {
      if (generation !== this.generation) return;
      let flowing = false;
      try {
        const report = await pending.ev.receiver.getStats();
        report.forEach((s: { type: string; framesDecoded?: number; packetsReceived?: number }) => {
          if (s.type !== 'inbound-rtp') return;
          if (pending.ev.track.kind === 'video' ? (s.framesDecoded ?? 0) > 0 : (s.packetsReceived ?? 0) > 0) flowing = true;
        });
      } catch {
        flowing = true; // receiver gone: stop waiting
      }
      if (!flowing && Date.now() - start < READY_TIMEOUT_MS) {
        setTimeout(() => void poll(), 50);
        return;
      }
      pending.ready = true;
      const p = this.remoteParticipants.get(identity);
      if (p) this.matchPendingTracks(p);
    };
    void poll();
  }

  private teardown(): void {
    for (const identity of [...this.remoteParticipants.keys()]) this.removeRemote(identity);
    for (const peer of this.peers.values()) peer.close();
    this.peers.clear();
    this.sfu?.publisher.close();
    this.sfu?.subscriber.close();
    this.sfu = null;
    this.pendingTracks.clear();
    this.remoteMoved.clear();
    this.movedSent.clear();
    this.generation++;
    if (this.switchTimer) clearTimeout(this.switchTimer);
    this.switchTimer = null;
  }
}
