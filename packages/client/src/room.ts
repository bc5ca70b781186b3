/**
 * `Room`: the SDK's entry point and facade, shaped like LiveKit's (`new Room()`,
 * `room.connect(url, token)`, `room.localParticipant`, `room.remoteParticipants`, typed events)
 * with OpenVidu's signals (`room.sendSignal(type, data, to)`, events `signal:<type>`).
 *
 * Behind it: the signaling connection ({@link SignalClient}), the mesh transport (one peer
 * connection per remote participant, {@link MeshTransport}), the SFU transport (publisher and
 * subscriber legs, {@link SfuTransport}) and the topology switch between them
 * ({@link TopologySwitch}, a sans-I/O state machine, run by {@link TopologyAdapter}).
 */
import { ErrorCode, SignalingError, type IceServer, type ServerMessage, type ServerMessageOf } from '@dari/protocol';
import { ClientError, ClientErrorCode, describe } from './errors.js';
import { TypedEmitter } from './events.js';
import { sendFileOver } from './file-transfer.js';
import { MeshTransport } from './mesh-transport.js';
import { LocalParticipant, RemoteParticipant, markSpeakers, type Participant } from './participant.js';
import { RemoteRoster } from './remote-roster.js';
import type { ConnectionState, ConnectOptions, RoomEvents, RoomOptions } from './room-events.js';
import { SfuTransport } from './sfu-transport.js';
import { SignalClient } from './signal-client.js';
import { StatsSamplers, type ConnectionInfo, type MediaPathInfo } from './stats.js';
import type { CompositeTracks } from './composite-tracks.js';
import { MediaPathTracker, sampleConnections } from './media-path.js';
import { TopologyAdapter, type TopologyEffects } from './topology-adapter.js';
import type { MediaPath } from './topology-switch.js';

export class Room extends TypedEmitter<RoomEvents> {
  /** Room name, known once connected. */
  name = '';
  readonly localParticipant: LocalParticipant;
  /** Remote participants by identity. */
  readonly remoteParticipants = new Map<string, RemoteParticipant>();
  /** Who speaks now, dominant speaker first (`sfu` rooms, from the server's `active-speakers`). */
  activeSpeakers: Participant[] = [];
  /** True while the server records the room (`recordingStatusChanged`). */
  isRecording = false;
  /**
   * The server's composite we receive now (`compositeChanged`): in an `mcu` room the video of
   * everyone and the audio mix of everyone but us, instead of the participants' tracks.
   */
  get composite(): CompositeTracks {
    return this.paths.composite.tracks;
  }
  private readonly signal = new SignalClient((event, err) =>
    this.reportError(new ClientError(ClientErrorCode.INTERNAL, `handling signaling ${event} failed: ${describe(err)}`, { event }, { cause: err })),
  );
  private readonly samplers = new StatsSamplers();
  /** The server's last `media-path` (SFU and MCU rooms; see {@link mediaPath}) and its composite. */
  private readonly paths = new MediaPathTracker((tracks) => this.emit('compositeChanged', tracks));
  private iceServers: IceServer[] = [];
  /** Scale-out: the node the room lives on (`joined.node`), to notice when it moves. */
  private roomNode: string | undefined;
  private readonly mesh: MeshTransport;
  /** In `sfu` mode (and while switching): the publisher and subscriber legs to the SFU. */
  private sfu: SfuTransport | null = null;
  private readonly topology: TopologyAdapter;
  private readonly roster: RemoteRoster;

  constructor(private readonly options: RoomOptions = {}) {
    super();
    const lp = (this.localParticipant = new LocalParticipant({
      published: (t) => {
        this.mesh.addTrack(t);
        this.sfu?.addTrack(t);
        this.emit('localTrackPublished', t);
      },
      replaced: (t) => {
        void this.mesh.replaceTrack(t);
        void this.sfu?.replaceTrack(t);
      },
      unpublished: (t) => {
        this.mesh.removeTrack(t.sid);
        this.sfu?.removeTrack(t.sid);
        this.emit('localTrackUnpublished', t);
      },
      changed: () => this.sendUpdate(),
      failed: (what, err) => this.reportError(new ClientError(ClientErrorCode.INTERNAL, `${what} failed: ${describe(err)}`, {}, { cause: err })),
    }));
    this.mesh = new MeshTransport({
      localSid: () => lp.sid,
      configuration: () => this.rtcConfiguration(),
      localTracks: () => [...lp.tracks.values()],
      send: (m) => this.signal.send(m),
      signalingAlive: () => this.signal.alive(),
      events: {
        track: (identity, ev) => this.topology.trackArrived('p2p', ev, identity),
        link: (identity, link) => this.topology.meshLink(identity, link),
        connectionState: (identity, state) => this.emit('peerConnectionStateChanged', identity, state),
        moved: (identity, path) => this.topology.remoteMoved(identity, path),
        fileProgress: (p) => this.emit('fileProgress', p),
        fileReceived: (f) => this.emit('fileReceived', f),
        fileFailed: (err, from) => this.emit('fileFailed', err, from),
        error: (err) => this.reportError(err),
      },
    });
    this.topology = new TopologyAdapter(this.effects());
    const { remoteParticipants: participants, mesh, samplers, signal, topology } = this;
    this.roster = new RemoteRoster({ participants, mesh, samplers, signal, topology, mode: () => this.mode, emit: this.emit.bind(this) });
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

  /** Media topology of the room, from `joined` and `room-mode`. */
  get mode(): MediaPath {
    return this.topology.mode;
  }

  /**
   * How our received video reaches us now and why: `p2p` while the room is on the mesh, else the
   * server's word (`sfu`, `composite-fallback`, `mcu`; `mediaPathChanged` when it changes).
   */
  get mediaPath(): MediaPathInfo {
    return this.paths.info(this.mode);
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
    const link = this.mesh.get(to) ?? this.mesh.open(to, remote.sid, { initiator: true, media: this.mode === 'p2p' });
    return sendFileOver(link.pc, file, name, to, (p) => this.emit('fileProgress', p));
  }

  /**
   * Path and quality per remote participant, from getStats() (W3C webrtc-stats): `via` says
   * whether its media comes over the mesh link or the SFU subscriber leg; the selected candidate
   * pair, RTT (ms) and bitrates (bps, over about the last second) are that connection's (shared
   * by everyone on the SFU leg); inbound media is the participant's own tracks; `mediaPath` says
   * whether the SFU leg carries the separate tracks, the composite fallback or the MCU composite.
   * @param identity only this participant; default all
   */
  async getConnectionInfo(identity?: string): Promise<ConnectionInfo[]> {
    return sampleConnections(this.remoteParticipants.values(), identity, this.mode, this.mediaPath, { mesh: this.mesh, sfu: this.sfu, samplers: this.samplers });
  }

  /**
   * The RTCPeerConnection to a participant, for advanced use; in `sfu` mode `sfu` names the
   * subscriber leg (all received media) and `sfu:publisher` the publisher leg.
   */
  getPeerConnection(identity: string): RTCPeerConnection | undefined {
    if (identity === 'sfu') return this.sfu?.subscriber.pc;
    if (identity === 'sfu:publisher') return this.sfu?.publisher.pc;
    return this.mesh.get(identity)?.pc;
  }

  /** Listener exceptions become `error` events (an `error` listener's own go to the console). */
  protected override listenerFailed(event: string, error: unknown): void {
    const err = new ClientError(ClientErrorCode.LISTENER_FAILED, `a listener for ${event} threw: ${describe(error)}`, { event }, { cause: error });
    if (event === 'error' || !this.emit('error', err)) console.error(`[dari] ${err.message}`, error);
  }

  private reportError(err: ClientError): void {
    if (!this.emit('error', err)) console.warn(`[dari] ${err.message}`, err.cause ?? '');
  }

  private rtcConfiguration(): RTCConfiguration {
    return { iceServers: this.iceServers as RTCIceServer[], iceTransportPolicy: this.options.iceTransportPolicy ?? 'all' };
  }

  private sendUpdate(): void {
    if (this.signal.state === 'connected' || this.signal.state === 'reconnecting') {
      this.signal.send({ type: 'update', tracks: this.localParticipant.trackInfos() });
    }
  }

  /** What the topology switch's actions do to the transports and the app. */
  private effects(): TopologyEffects {
    return {
      useTrack: (identity, trackSid, track, path, reason) => {
        const p = this.remoteParticipants.get(identity);
        const pub = p?.tracks.get(trackSid);
        if (!p || !pub) return;
        pub.track = track;
        pub.path = path;
        // A flip-back to sfu is followed by every render size anyway (send-render-sizes).
        if (path === 'sfu' && reason !== 'flip-back') this.roster.sendTrackSettings(identity, pub);
        this.emit('trackSubscribed', track, pub, p);
      },
      sendMoved: (identity, path) => this.mesh.sendMoved(identity, path),
      openMeshMedia: (identity) => {
        const p = this.remoteParticipants.get(identity);
        if (p) this.mesh.openMedia(identity, p.sid);
      },
      closeMeshLink: (identity) => this.mesh.close(identity),
      openSfu: () => this.openSfu(),
      closeSfu: () => {
        this.sfu?.close();
        this.sfu = null;
        // Off the SFU the server's word no longer holds (a fallback ended with our subscriber leg).
        this.paths.reset();
        this.signal.send({ type: 'sfu-leave' });
      },
      sendRenderSizes: () => {
        for (const p of this.remoteParticipants.values()) for (const pub of p.tracks.values()) this.roster.sendTrackSettings(p.identity, pub);
      },
      error: (err) => this.reportError(err),
    };
  }

  /** The two SFU legs: we offer on the publisher one, the SFU offers on the subscriber one. */
  private openSfu(): void {
    this.sfu?.close();
    this.paths.composite.clear();
    this.sfu = new SfuTransport({
      configuration: this.rtcConfiguration(),
      localTracks: () => [...this.localParticipant.tracks.values()],
      simulcast: this.options.simulcast !== false,
      send: (m) => this.signal.send(m),
      onTrack: (ev) => (this.paths.composite.take(ev) ? undefined : this.topology.trackArrived('sfu', ev)),
      onLegState: (leg, state) => {
        if (leg === 'subscriber') this.topology.sfuState(state);
        this.emit('peerConnectionStateChanged', `sfu:${leg}`, state);
      },
      onError: (err) => this.reportError(err),
      signalingAlive: () => this.signal.alive(),
    });
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
    // connections survive; the SFU legs went with the old node, so they are set up again (the
    // new legs' tracks replace the old ones). Leaving the SFU anyway (p2p): the switch closes them.
    const moved = m.resumed && m.node !== undefined && this.roomNode !== undefined && m.node !== this.roomNode;
    this.roomNode = m.node;
    if (moved && this.sfu && this.mode === 'sfu') this.openSfu();
    if (m.resumed) {
      // Same session: peer connections survived. Reconcile presence that changed meanwhile.
      const present = new Set(m.participants.map((p) => p.identity));
      for (const p of [...this.remoteParticipants.values()]) if (!present.has(p.identity)) this.roster.remove(p.identity);
      for (const info of m.participants) {
        if (this.remoteParticipants.has(info.identity)) this.roster.update(info);
        else this.roster.add(info, false); // joined while we were away: they offer to us
      }
      this.topology.setMode(m.mode);
      // Back after a cut or an address change: links whose ICE went down restart it now.
      this.mesh.restartIceIfDown();
      this.sfu?.restartIceIfDown();
      return;
    }
    this.teardown();
    if (lp.tracks.size > 0) {
      if (lp.grants.canPublish) this.sendUpdate();
      else lp.stopAll();
    }
    this.topology.start(m.mode); // opens the SFU legs in an sfu room
    // In a mesh the newcomer offers to everyone already there; they answer (docs/protocol.md#mesh).
    for (const info of m.participants) this.roster.add(info, m.mode === 'p2p');
  }

  private onMessage(m: ServerMessage): void {
    switch (m.type) {
      case 'participant-joined': {
        const known = this.remoteParticipants.get(m.participant.identity);
        if (known?.sid === m.participant.sid) {
          this.roster.update(m.participant);
          break;
        }
        if (known) this.roster.remove(known.identity);
        this.roster.add(m.participant, false);
        break;
      }
      case 'participant-updated':
        if (this.remoteParticipants.has(m.participant.identity)) this.roster.update(m.participant);
        break;
      case 'participant-left':
        if (this.remoteParticipants.get(m.identity)?.sid === m.sid) this.roster.remove(m.identity);
        break;
      case 'sdp':
      case 'candidate': {
        const remote = this.remoteParticipants.get(m.from);
        if (!remote || remote.sid !== m.fromSid) break;
        const media = this.mode === 'p2p';
        if (m.type === 'sdp') void this.mesh.handleDescription(m.from, remote.sid, m.description, media);
        else void this.mesh.handleCandidate(m.from, remote.sid, m.candidate, media);
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
      case 'sfu-candidate':
      case 'publisher-layers':
        this.sfu?.handleMessage(m);
        break;
      case 'room-mode':
        this.topology.setMode(m.mode);
        break;
      case 'active-speakers': {
        const lp = this.localParticipant;
        this.activeSpeakers = markSpeakers(this.activeSpeakers, m.speakers, (id) => (id === lp.identity ? lp : this.remoteParticipants.get(id)));
        this.emit('activeSpeakersChanged', [...this.activeSpeakers]);
        break;
      }
      case 'media-path': {
        this.paths.serverSaid(m);
        this.emit('mediaPathChanged', this.mediaPath);
        break;
      }
      case 'recording':
        if (m.active !== this.isRecording) {
          this.isRecording = m.active;
          this.emit('recordingStatusChanged', m.active);
        }
        break;
      case 'pong':
      case 'closing':
      case 'joined':
        break;
    }
  }

  private teardown(): void {
    this.topology.reset();
    for (const identity of [...this.remoteParticipants.keys()]) this.roster.remove(identity);
    this.mesh.closeAll();
    this.sfu?.close();
    this.sfu = null;
    this.paths.reset();
  }
}
