/**
 * Prometheus metrics (prom-client), one registry per server instance so tests can run several
 * servers in one process. Exposed at GET /metrics. No per-user or per-room labels.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { SfuMetricsSample } from '@dari/sfu';

/** Scale-out facts at scrape time (see ClusterRouter.sample). */
export interface ClusterMetricsSample {
  /** Live nodes in this node's view (itself included). */
  nodes: number;
  /** Rooms and participants per node id, as each node last reported (this node: now). */
  roomsByNode: Record<string, number>;
  participantsByNode: Record<string, number>;
  /** Client frames this node (as edge) relayed to room nodes / server frames it relayed back. */
  relayedToRoom: number;
  relayedToClient: number;
  /** Client connections this node relays to other nodes now. */
  relayedSessions: number;
  /** Rooms this node adopted from a dead or draining node. */
  adopted: number;
  redisUp: boolean;
  draining: boolean;
}

/** What the media workers' gauges read at scrape time. */
export interface MediaSample {
  mcuRooms: number;
  workers: number;
  /** Browser subscribers in the composite fallback (the SFU cores' count). */
  fallbackSubscribers: number;
  /** SFU rooms with a fallback composite running or starting. */
  fallbackComposites: number;
}

export interface Metrics {
  registry: Registry;
  /** Adds the `dari_cluster_*` metrics (scale-out only). */
  registerCluster(sample: () => ClusterMetricsSample): void;
  /** Adds `dari_egress` (egresses by status), `dari_mcu_rooms`, `dari_media_workers` and the composite fallback's gauges. */
  registerEgress(sample: () => Record<string, number>, media: () => MediaSample): void;
  /** `dari_composite_fallback_total`: browser subscribers that went to an SFU room's composite. */
  compositeFallbacks: Counter;
  signalingMessages: Counter<'type'>;
  signalingErrors: Counter<'code'>;
  participantsJoined: Counter<'resumed'>;
  participantsLeft: Counter<'reason'>;
}

/**
 * @param sample called at scrape time for the live gauges (connections, rooms, participants)
 */
export function createMetrics(sample: () => { connections: number; rooms: number; participants: number; roomsByMode?: Record<string, number> }, sfuSampler?: () => SfuMetricsSample): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'dari_' });
  const gauge = (name: string, help: string, key: 'connections' | 'rooms' | 'participants'): void => {
    new Gauge({ name, help, registers: [registry], collect() { this.set(sample()[key]); } });
  };
  gauge('dari_signaling_connections', 'Open signaling WebSocket connections', 'connections');
  gauge('dari_rooms', 'Rooms with at least one participant', 'rooms');
  gauge('dari_participants', 'Participants in all rooms, including those reconnecting', 'participants');
  /** A gauge with one label, set from a record at scrape time (labels absent from it disappear). */
  const labelled = (name: string, help: string, label: string, read: () => Record<string, number>): void => {
    new Gauge({
      name,
      help,
      labelNames: [label],
      registers: [registry],
      collect() {
        this.reset();
        for (const [value, n] of Object.entries(read())) this.set({ [label]: value }, n);
      },
    });
  };
  labelled('dari_rooms_by_mode', 'Rooms by current topology (p2p or sfu)', 'mode', () => sample().roomsByMode ?? {});
  if (sfuSampler) {
    // One SFU walk per scrape, not one per metric.
    let cached: { at: number; sample: SfuMetricsSample } | null = null;
    const sfu = (): SfuMetricsSample => {
      const now = Date.now();
      if (!cached || now - cached.at > 100) cached = { at: now, sample: sfuSampler() };
      return cached.sample;
    };
    const sfuGauge = (name: string, help: string, key: 'rooms' | 'participants' | 'peerConnections' | 'publications' | 'downTracks'): void => {
      new Gauge({ name, help, registers: [registry], collect() { this.set(sfu()[key]); } });
    };
    sfuGauge('dari_sfu_rooms', 'Rooms with SFU members', 'rooms');
    sfuGauge('dari_sfu_participants', 'Participants with SFU legs', 'participants');
    sfuGauge('dari_sfu_peer_connections', 'Server-side peer connections (two per SFU participant)', 'peerConnections');
    sfuGauge('dari_sfu_published_tracks', 'Tracks published to the SFU', 'publications');
    sfuGauge('dari_sfu_subscribed_tracks', 'Tracks forwarded to subscribers (one per publication and subscriber)', 'downTracks');
    // Monotonic totals kept by the SFU, exposed as counters at scrape time.
    const total = (name: string, help: string, key: 'forwardedPackets' | 'forwardedBytes' | 'pliReceived' | 'pliSent' | 'nackReceived' | 'nackSent' | 'keyframeReplays'): void => {
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          this.reset();
          this.inc(sfu()[key]);
        },
      });
    };
    total('dari_sfu_forwarded_packets_total', 'RTP packets forwarded to subscribers', 'forwardedPackets');
    total('dari_sfu_forwarded_bytes_total', 'RTP bytes forwarded to subscribers (before SRTP)', 'forwardedBytes');
    total('dari_sfu_pli_received_total', 'Keyframe requests (PLI or FIR) received from subscribers', 'pliReceived');
    total('dari_sfu_pli_sent_total', 'PLIs sent to publishers (at most one per second per simulcast layer)', 'pliSent');
    total('dari_sfu_nack_received_total', 'NACKs received from subscribers', 'nackReceived');
    total('dari_sfu_keyframe_replays_total', 'Kept keyframes replayed to new subscribers (sources that cannot make one on request, e.g. RTSP cameras)', 'keyframeReplays');
    total('dari_sfu_nack_sent_total', 'NACKs sent to publishers', 'nackSent');
    labelled('dari_sfu_selected_layers', 'Forwarding video tracks by the simulcast layer they forward (rid)', 'layer', () => sfu().layers);
    new Counter({
      name: 'dari_sfu_ignored_total',
      help: 'Inputs the SFU core dropped (unknown or stale ids, bad values), by reason',
      labelNames: ['reason'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [reason, n] of Object.entries(sfu().ignored)) this.inc({ reason }, n ?? 0);
      },
    });
  }
  const registerCluster = (sampleCluster: () => ClusterMetricsSample): void => {
    const plain = (name: string, help: string, read: (s: ClusterMetricsSample) => number): void => {
      new Gauge({ name, help, registers: [registry], collect() { this.set(read(sampleCluster())); } });
    };
    plain('dari_cluster_nodes', 'Live nodes of the cluster (heartbeat not expired), this one included', (s) => s.nodes);
    labelled('dari_cluster_node_rooms', 'Rooms per node, as each node last reported', 'node', () => sampleCluster().roomsByNode);
    labelled('dari_cluster_node_participants', 'Participants per node, as each node last reported', 'node', () => sampleCluster().participantsByNode);
    plain('dari_cluster_relayed_sessions', 'Client connections this node relays to the nodes of their rooms', (s) => s.relayedSessions);
    plain('dari_cluster_redis_up', '1 while the cluster store (Redis) answers', (s) => Number(s.redisUp));
    plain('dari_cluster_draining', '1 while this node drains', (s) => Number(s.draining));
    new Counter({
      name: 'dari_cluster_relayed_messages_total',
      help: 'Signaling messages this node relayed between its clients and the nodes of their rooms, by direction',
      labelNames: ['direction'],
      registers: [registry],
      collect() {
        const s = sampleCluster();
        this.reset();
        this.inc({ direction: 'to-room' }, s.relayedToRoom);
        this.inc({ direction: 'to-client' }, s.relayedToClient);
      },
    });
    new Counter({
      name: 'dari_cluster_rooms_adopted_total',
      help: 'Rooms this node took over from a dead or draining node',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(sampleCluster().adopted);
      },
    });
  };
  const registerEgress = (sampleEgress: () => Record<string, number>, media: () => MediaSample): void => {
    labelled('dari_egress', 'Egresses (recordings) of this process, by status: starting, active, complete, failed', 'status', sampleEgress);
    new Gauge({ name: 'dari_mcu_rooms', help: 'Rooms in mcu mode with a running composite', registers: [registry], collect() { this.set(media().mcuRooms); } });
    new Gauge({ name: 'dari_media_workers', help: 'GStreamer worker processes (composites and recorders), at most mcu.maxWorkers', registers: [registry], collect() { this.set(media().workers); } });
    new Gauge({ name: 'dari_composite_fallback_subscribers', help: 'Browser subscribers in SFU rooms receiving the composite instead of the separate videos (their estimate cannot carry the lowest layers)', registers: [registry], collect() { this.set(media().fallbackSubscribers); } });
    new Gauge({ name: 'dari_composite_fallback_rooms', help: 'SFU rooms with a fallback composite running or starting', registers: [registry], collect() { this.set(media().fallbackComposites); } });
  };
  return {
    registry,
    registerCluster,
    registerEgress,
    compositeFallbacks: new Counter({ name: 'dari_composite_fallback_total', help: 'Browser subscribers that went to an SFU room\'s composite (their REMB could not carry their videos at the lowest layers)', registers: [registry] }),
    signalingMessages: new Counter({ name: 'dari_signaling_messages_total', help: 'Valid signaling messages received, by type', labelNames: ['type'], registers: [registry] }),
    signalingErrors: new Counter({ name: 'dari_signaling_errors_total', help: 'Typed signaling errors sent to clients, by code', labelNames: ['code'], registers: [registry] }),
    participantsJoined: new Counter({ name: 'dari_participants_joined_total', help: 'Joins, by whether they resumed a session', labelNames: ['resumed'], registers: [registry] }),
    participantsLeft: new Counter({ name: 'dari_participants_left_total', help: 'Participants removed from rooms, by reason', labelNames: ['reason'], registers: [registry] }),
  };
}
