/**
 * The room's remote participants as the server announces them (`joined`, `participant-joined`,
 * `participant-updated`, `participant-left`): {@link RemoteParticipant}s and their publications
 * kept in `Room.remoteParticipants`, the topology switch told of their tracks, the mesh link
 * opened or closed, the adaptive-stream sizes sent to the SFU, and the room's events emitted.
 */
import type { ParticipantInfo, TrackInfo } from '@dari/protocol';
import type { MeshTransport } from './mesh-transport.js';
import { RemoteParticipant, RemoteTrackPublication } from './participant.js';
import type { RoomEvents } from './room-events.js';
import type { SignalClient } from './signal-client.js';
import type { StatsSamplers } from './stats.js';
import type { TopologyAdapter } from './topology-adapter.js';
import type { MediaPath } from './topology-switch.js';

/** What the roster acts on: the room's own parts (not copies) and its `emit`. */
export interface RosterHost {
  /** `Room.remoteParticipants`, by identity. */
  readonly participants: Map<string, RemoteParticipant>;
  readonly mesh: MeshTransport;
  readonly samplers: StatsSamplers;
  readonly signal: SignalClient;
  readonly topology: TopologyAdapter;
  /** The room's media topology now. */
  mode(): MediaPath;
  emit<K extends keyof RoomEvents>(event: K, ...args: Parameters<RoomEvents[K]>): boolean;
}

export class RemoteRoster {
  constructor(private readonly host: RosterHost) {}

  /** Tells the SFU how large we render `identity`'s video (only while it comes through the SFU). */
  sendTrackSettings(identity: string, pub: RemoteTrackPublication): void {
    if (!pub.dimensions || pub.kind !== 'video' || this.host.mode() !== 'sfu') return;
    this.host.signal.send({ type: 'track-settings', participant: identity, trackSid: pub.sid, width: pub.dimensions.width, height: pub.dimensions.height });
  }

  /** A participant joined (or was there when we joined); `offer`: we open the mesh link to it. */
  add(info: ParticipantInfo, offer: boolean): void {
    const { participants, topology, mesh } = this.host;
    const p = new RemoteParticipant(info);
    for (const t of info.tracks) p.tracks.set(t.sid, this.newPublication(info.identity, t));
    participants.set(info.identity, p);
    topology.participant(info.identity, info.tracks);
    this.host.emit('participantConnected', p);
    if (offer) mesh.open(p.identity, p.sid, { initiator: true, media: this.host.mode() === 'p2p' });
  }

  /** A known participant's info changed (its tracks, their mute state, its name or metadata). */
  update(info: ParticipantInfo): void {
    const p = this.host.participants.get(info.identity)!;
    p.info = info;
    const { gone, muteChanged } = p.applyTracks(info.tracks, (t) => this.newPublication(info.identity, t));
    for (const pub of gone) if (pub.track) this.host.emit('trackUnsubscribed', pub.track, pub, p);
    for (const pub of muteChanged) this.host.emit(pub.muted ? 'trackMuted' : 'trackUnmuted', pub, p);
    this.host.topology.participant(info.identity, info.tracks);
    this.host.emit('participantUpdated', p);
  }

  /** A participant left (or is gone from a resumed session's list): its link closes and its tracks end. */
  remove(identity: string): void {
    const { participants, mesh, samplers, topology } = this.host;
    const p = participants.get(identity);
    if (!p) return;
    participants.delete(identity);
    mesh.close(identity);
    samplers.forget(identity);
    topology.participantLeft(identity);
    for (const pub of p.tracks.values()) if (pub.track) this.host.emit('trackUnsubscribed', pub.track, pub, p);
    this.host.emit('participantDisconnected', p);
  }

  /** A remote publication whose adaptive-stream size goes to the SFU. */
  private newPublication(identity: string, info: TrackInfo): RemoteTrackPublication {
    return new RemoteTrackPublication(info, (pub) => this.sendTrackSettings(identity, pub));
  }
}
