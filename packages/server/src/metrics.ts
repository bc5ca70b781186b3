/**
 * Prometheus metrics (prom-client), one registry per server instance so tests can run several
 * servers in one process. Exposed at GET /metrics. No per-user or per-room labels.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  signalingMessages: Counter<'type'>;
  signalingErrors: Counter<'code'>;
  participantsJoined: Counter<'resumed'>;
  participantsLeft: Counter<'reason'>;
}

/**
 * @param sample called at scrape time for the live gauges (connections, rooms, participants)
 */
export function createMetrics(sample: () => { connections: number; rooms: number; participants: number }): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'dari_' });
  const gauge = (name: string, help: string, key: 'connections' | 'rooms' | 'participants'): void => {
    new Gauge({ name, help, registers: [registry], collect() { this.set(sample()[key]); } });
  };
  gauge('dari_signaling_connections', 'Open signaling WebSocket connections', 'connections');
  gauge('dari_rooms', 'Rooms with at least one participant', 'rooms');
  gauge('dari_participants', 'Participants in all rooms, including those reconnecting', 'participants');
  return {
    registry,
    signalingMessages: new Counter({ name: 'dari_signaling_messages_total', help: 'Valid signaling messages received, by type', labelNames: ['type'], registers: [registry] }),
    signalingErrors: new Counter({ name: 'dari_signaling_errors_total', help: 'Typed signaling errors sent to clients, by code', labelNames: ['code'], registers: [registry] }),
    participantsJoined: new Counter({ name: 'dari_participants_joined_total', help: 'Joins, by whether they resumed a session', labelNames: ['resumed'], registers: [registry] }),
    participantsLeft: new Counter({ name: 'dari_participants_left_total', help: 'Participants removed from rooms, by reason', labelNames: ['reason'], registers: [registry] }),
  };
}
