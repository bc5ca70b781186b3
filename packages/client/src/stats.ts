/**
 * Connection information from `RTCPeerConnection.getStats()` (W3C webrtc-stats): the selected
 * candidate pair, RTT, bitrates and the inbound media, for indicators and the inspector.
 */

/** One ICE candidate (RFC 8445 §5.1.1) as the stats report it. */
export interface CandidateInfo {
  /** host | srflx | prflx | relay */
  type: string;
  /** Transport between this candidate and its peer: udp | tcp. */
  protocol: string;
  address: string;
  port: number;
  /** For relay candidates: how the client reaches the TURN server (udp | tcp | tls). */
  relayProtocol?: string;
}

export interface ConnectionInfo {
  /** Identity of the remote participant. */
  peer: string;
  /**
   * `p2p`: the mesh link to that participant; `sfu`: the SFU subscriber leg that carries its
   * media (path, candidates, RTT and bitrates are the leg's, shared by every participant).
   */
  via: 'p2p' | 'sfu';
  connectionState: RTCPeerConnectionState;
  iceConnectionState: RTCIceConnectionState;
  /** `relay` when either side of the selected pair is a relay candidate. */
  path: 'direct' | 'relay' | 'none';
  local?: CandidateInfo;
  remote?: CandidateInfo;
  localCandidates: CandidateInfo[];
  remoteCandidates: CandidateInfo[];
  /** Current round-trip time of the selected pair, ms. */
  rttMs?: number;
  /** Over about the last second (see StatsSampler), bits per second. */
  bitrateInBps: number;
  bitrateOutBps: number;
  video?: { codec?: string; width?: number; height?: number; framesDecoded: number; framesPerSecond?: number; packetsLost: number; packetsReceived: number };
  audio?: { codec?: string; packetsLost: number; packetsReceived: number };
  /** How this participant's received video reaches us, and why (set by `Room.getConnectionInfo`; see {@link MediaPathInfo}). */
  mediaPath?: MediaPathInfo;
}

/**
 * How the participant's received video reaches it: `p2p` (the mesh), `sfu` (the separate tracks
 * through the SFU), `composite-fallback` (an SFU room's composite video instead of the separate
 * videos: its bandwidth estimate cannot carry them even at their lowest simulcast layers; audio
 * stays the separate tracks) or `mcu` (an `mcu` room's composite and N−1 mix). From the server's
 * `media-path` messages (docs/protocol.md).
 */
export interface MediaPathInfo {
  path: 'p2p' | 'sfu' | 'composite-fallback' | 'mcu';
  /** A code: `room-mode` (the room's topology), `estimate-below-need`, `probe-failed`, `estimate-recovered`, `probe`, `composite-unavailable`, `composite-failed`, `mcu-room` … */
  reason: string;
  /** The server's bandwidth estimate toward us (REMB) when it decided, bps. */
  estimateBps?: number;
  /** What the separate videos need at their lowest layers (with the audio), bps. */
  needBps?: number;
}

type Stat = Record<string, unknown> & { id: string; type: string };

function candidate(s: Stat | undefined): CandidateInfo | undefined {
  if (!s) return undefined;
  const info: CandidateInfo = {
    type: String(s['candidateType'] ?? 'unknown'),
    protocol: String(s['protocol'] ?? 'unknown'),
    address: String(s['address'] ?? s['ip'] ?? ''),
    port: Number(s['port'] ?? 0),
  };
  if (typeof s['relayProtocol'] === 'string') info.relayProtocol = s['relayProtocol'];
  return info;
}

/**
 * Remembers byte counters between calls so bitrates cover the last second or so. Rates are
 * taken against the newest sample at least 800 ms old, so several pollers (a badge and an
 * inspector) get the same figures instead of splitting the interval between them.
 */
export class StatsSampler {
  private history: { at: number; bytesIn: number; bytesOut: number }[] = [];

  /**
   * @param via which kind of connection `pc` is
   * @param trackIds only inbound media of these track ids (the participant's, on a shared SFU leg); default all
   */
  async sample(peer: string, pc: RTCPeerConnection, via: 'p2p' | 'sfu' = 'p2p', trackIds?: ReadonlySet<string>): Promise<ConnectionInfo> {
    const report = await pc.getStats();
    const byId = new Map<string, Stat>();
    report.forEach((s: Stat) => byId.set(s.id, s));
    const all = [...byId.values()];
    let pair: Stat | undefined;
    for (const t of all.filter((s) => s.type === 'transport')) {
      const id = t['selectedCandidatePairId'];
      if (typeof id === 'string') pair = byId.get(id);
    }
    pair ??= all.find((s) => s.type === 'candidate-pair' && s['nominated'] === true && s['state'] === 'succeeded');
    const local = candidate(pair ? byId.get(String(pair['localCandidateId'])) : undefined);
    const remote = candidate(pair ? byId.get(String(pair['remoteCandidateId'])) : undefined);
    const now = performance.now();
    const bytesIn = Number(pair?.['bytesReceived'] ?? 0);
    const bytesOut = Number(pair?.['bytesSent'] ?? 0);
    this.history = this.history.filter((h) => now - h.at < 10_000);
    const prev = [...this.history].reverse().find((h) => now - h.at >= 800) ?? this.history[0];
    this.history.push({ at: now, bytesIn, bytesOut });
    const dtS = prev ? (now - prev.at) / 1000 : 0;
    const rate = (cur: number, old: number | undefined) => (prev && dtS > 0 && old !== undefined ? Math.max(0, ((cur - old) * 8) / dtS) : 0);
    const info: ConnectionInfo = {
      peer,
      via,
      connectionState: pc.connectionState,
      iceConnectionState: pc.iceConnectionState,
      path: !local || !remote ? 'none' : local.type === 'relay' || remote.type === 'relay' ? 'relay' : 'direct',
      localCandidates: all.filter((s) => s.type === 'local-candidate').map((s) => candidate(s)!),
      remoteCandidates: all.filter((s) => s.type === 'remote-candidate').map((s) => candidate(s)!),
      bitrateInBps: Math.round(rate(bytesIn, prev?.bytesIn)),
      bitrateOutBps: Math.round(rate(bytesOut, prev?.bytesOut)),
    };
    if (local) info.local = local;
    if (remote) info.remote = remote;
    if (typeof pair?.['currentRoundTripTime'] === 'number') info.rttMs = pair['currentRoundTripTime'] * 1000;
    const codecOf = (s: Stat) => {
      const c = byId.get(String(s['codecId']));
      return typeof c?.['mimeType'] === 'string' ? c['mimeType'] : undefined;
    };
    for (const s of all.filter((x) => x.type === 'inbound-rtp' && (!trackIds || trackIds.has(String(x['trackIdentifier']))))) {
      const codec = codecOf(s);
      if (s['kind'] === 'video') {
        const v: NonNullable<ConnectionInfo['video']> = {
          framesDecoded: Number(s['framesDecoded'] ?? 0),
          packetsLost: Number(s['packetsLost'] ?? 0),
          packetsReceived: Number(s['packetsReceived'] ?? 0),
        };
        if (codec) v.codec = codec;
        if (typeof s['frameWidth'] === 'number') v.width = s['frameWidth'];
        if (typeof s['frameHeight'] === 'number') v.height = s['frameHeight'];
        if (typeof s['framesPerSecond'] === 'number') v.framesPerSecond = s['framesPerSecond'];
        if (!info.video || v.framesDecoded > info.video.framesDecoded) info.video = v;
      } else if (s['kind'] === 'audio') {
        const a: NonNullable<ConnectionInfo['audio']> = { packetsLost: Number(s['packetsLost'] ?? 0), packetsReceived: Number(s['packetsReceived'] ?? 0) };
        if (codec) a.codec = codec;
        if (!info.audio || a.packetsReceived > info.audio.packetsReceived) info.audio = a;
      }
    }
    return info;
  }
}

/** One {@link StatsSampler} per participant and path, so each keeps its own byte history. */
export class StatsSamplers {
  private readonly samplers = new Map<string, StatsSampler>();

  /** Samples `peer`'s connection `pc` (see {@link StatsSampler.sample}). */
  sample(peer: string, pc: RTCPeerConnection, via: 'p2p' | 'sfu', trackIds?: ReadonlySet<string>): Promise<ConnectionInfo> {
    const key = `${via}:${peer}`;
    let s = this.samplers.get(key);
    if (!s) this.samplers.set(key, (s = new StatsSampler()));
    return s.sample(peer, pc, via, trackIds);
  }

  /** Drops a departed participant's history. */
  forget(peer: string): void {
    this.samplers.delete(`p2p:${peer}`);
    this.samplers.delete(`sfu:${peer}`);
  }
}
