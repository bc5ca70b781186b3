/**
 * Connection indicators: a `.conn-badge` per remote tile ("P2P", "Relay (TCP)", …) from
 * `room.getConnectionInfo()` polled every 2 s, with RTT and candidates in its title; and the
 * global signaling state in `#conn-status[data-state]`.
 */
import type { ConnectionInfo, ConnectionState, Room } from '@dari/client';
import type { Grid } from './grid.js';

export const POLL_MS = 2000;

const STATE_LABELS: Record<ConnectionState, string> = {
  disconnected: 'Disconnected',
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
};

/** Badge text for one participant's path: "P2P", "SFU", "Relay", "Relay (TCP)", "SFU · Relay (TCP)", "…" (not yet connected). */
export function pathLabel(info: ConnectionInfo): string {
  if (info.via === 'sfu' && info.path !== 'none') return info.path === 'direct' ? 'SFU' : `SFU · ${pathLabel({ ...info, via: 'p2p' })}`;
  if (info.path === 'direct') return 'P2P';
  if (info.path === 'relay') {
    const proto = info.local?.type === 'relay' ? info.local.relayProtocol : undefined;
    return proto ? `Relay (${proto.toUpperCase()})` : 'Relay';
  }
  return info.connectionState === 'failed' ? 'Failed' : '…';
}

/** 1 234 567 → "1.2 Mbps", 45 000 → "45 kbps". */
export function formatRate(bps: number): string {
  return bps >= 1e6 ? `${(bps / 1e6).toFixed(1)} Mbps` : `${Math.round(bps / 1e3)} kbps`;
}

/** Tooltip: RTT, selected candidates, bitrates, inbound video. */
export function pathTitle(info: ConnectionInfo): string {
  const parts: string[] = [];
  if (info.rttMs !== undefined) parts.push(`RTT ${Math.round(info.rttMs)} ms`);
  if (info.local && info.remote) {
    const relay = info.local.relayProtocol ? ` via TURN/${info.local.relayProtocol}` : '';
    parts.push(`${info.local.type}/${info.local.protocol}${relay} ↔ ${info.remote.type}/${info.remote.protocol}`);
  } else {
    parts.push(`ICE ${info.iceConnectionState}`);
  }
  parts.push(`↓ ${formatRate(info.bitrateInBps)} ↑ ${formatRate(info.bitrateOutBps)}`);
  const v = info.video;
  if (v?.width && v.height) parts.push(`${v.width}×${v.height}${v.framesPerSecond ? ` @ ${Math.round(v.framesPerSecond)} fps` : ''}`);
  return parts.join(' · ');
}

export class ConnIndicator {
  private timer: ReturnType<typeof setInterval> | null = null;
  private room: Room | null = null;
  private polling = false;

  constructor(
    private readonly statusEl: HTMLElement,
    private readonly grid: Grid,
  ) {}

  start(room: Room): void {
    this.stop();
    this.room = room;
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    void this.poll();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.room = null;
  }

  /** Polls now (e.g. when a peer connection just connected) instead of waiting for the timer. */
  pollSoon(): void {
    if (this.room) setTimeout(() => void this.poll(), 300);
  }

  setState(state: ConnectionState): void {
    this.statusEl.dataset['state'] = state;
    this.statusEl.textContent = STATE_LABELS[state];
  }

  private async poll(): Promise<void> {
    const room = this.room;
    if (!room || this.polling) return;
    this.polling = true;
    try {
      const infos = await room.getConnectionInfo();
      if (this.room !== room) return;
      for (const info of infos) {
        const badge = this.grid.badgeFor(info.peer);
        if (!badge) continue;
        badge.textContent = pathLabel(info);
        badge.dataset['path'] = info.path;
        badge.title = pathTitle(info);
        if (info.rttMs !== undefined) badge.dataset['rtt'] = String(Math.round(info.rttMs));
      }
    } catch (err) {
      console.warn('[meet] getConnectionInfo failed', err);
    } finally {
      this.polling = false;
    }
  }
}
