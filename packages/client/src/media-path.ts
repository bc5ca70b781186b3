/**
 * How the room's received media reaches us (`Room.mediaPath`, `Room.composite`,
 * `Room.getConnectionInfo`): the server's last `media-path` and the composite tracks on the SFU
 * subscriber leg ({@link MediaPathTracker}), and which connection carries each remote
 * participant's media ({@link sampleConnections}).
 */
import type { ServerMessageOf } from '@dari/protocol';
import { CompositeReceiver, type CompositeTracks } from './composite-tracks.js';
import type { MeshTransport } from './mesh-transport.js';
import type { RemoteParticipant } from './participant.js';
import type { SfuTransport } from './sfu-transport.js';
import type { ConnectionInfo, MediaPathInfo, StatsSamplers } from './stats.js';
import type { MediaPath } from './topology-switch.js';

/** The server's word on our media path and the composite we receive (SFU and MCU rooms). */
export class MediaPathTracker {
  /** The server's last `media-path`. */
  private serverPath: MediaPathInfo = { path: 'sfu', reason: 'room-mode' };
  /** The server's composite on the SFU subscriber leg. */
  readonly composite: CompositeReceiver;

  /** @param compositeChanged called with the composite tracks after each change (`compositeChanged`) */
  constructor(compositeChanged: (tracks: CompositeTracks) => void) {
    this.composite = new CompositeReceiver(compositeChanged);
  }

  /** `p2p` while the room (`mode`) is on the mesh, else the server's word (`sfu`, `composite-fallback`, `mcu`). */
  info(mode: MediaPath): MediaPathInfo {
    return mode === 'p2p' ? { path: 'p2p', reason: 'room-mode' } : { ...this.serverPath };
  }

  /** The server's `media-path` message: its word from now on. */
  serverSaid(m: ServerMessageOf<'media-path'>): void {
    const { path, reason, estimateBps, needBps } = m;
    this.serverPath = { path, reason, ...(estimateBps !== undefined ? { estimateBps } : {}), ...(needBps !== undefined ? { needBps } : {}) };
  }

  /** Off the SFU (its legs closed, or we left): the composite goes and the server's word no longer holds. */
  reset(): void {
    this.composite.clear();
    this.serverPath = { path: 'sfu', reason: 'room-mode' };
  }
}

/**
 * Samples each remote participant's connection (`Room.getConnectionInfo`): the SFU subscriber
 * leg when its media comes through the SFU, else its mesh link; `mediaPath` on each entry.
 * @param identity only this participant; undefined: all
 * @param mode the room's topology now; `mediaPath` the room's media path now
 */
export async function sampleConnections(
  remotes: Iterable<RemoteParticipant>,
  identity: string | undefined,
  mode: MediaPath,
  mediaPath: MediaPathInfo,
  links: { mesh: MeshTransport; sfu: SfuTransport | null; samplers: StatsSamplers },
): Promise<ConnectionInfo[]> {
  const { mesh, sfu, samplers } = links;
  const jobs: Promise<ConnectionInfo>[] = [];
  for (const p of remotes) {
    if (identity !== undefined && p.identity !== identity) continue;
    // Each participant's media comes over whichever path delivers its tracks now.
    const viaSfu = [...p.tracks.values()].some((t) => t.track && t.path === 'sfu') || (mode === 'sfu' && !mesh.get(p.identity)?.media);
    if (viaSfu && sfu) {
      const ids = new Set([...p.tracks.values()].flatMap((t) => (t.track && t.path === 'sfu' ? [t.track.id] : [])));
      jobs.push(samplers.sample(p.identity, sfu.subscriber.pc, 'sfu', ids));
    } else {
      const link = mesh.get(p.identity);
      if (link) jobs.push(samplers.sample(p.identity, link.pc, 'p2p'));
    }
  }
  const sfuPath = mode === 'p2p' ? { path: 'sfu' as const, reason: 'switching' } : mediaPath;
  return (await Promise.all(jobs)).map((info) => ({ ...info, mediaPath: info.via === 'p2p' ? { path: 'p2p', reason: 'room-mode' } : sfuPath }));
}
