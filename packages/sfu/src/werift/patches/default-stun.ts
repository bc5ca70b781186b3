/**
 * werift workaround: its ICE agent's default STUN server (test: test/werift-stun.test.ts).
 */
import { Connection } from 'werift';

/**
 * werift's ICE agent falls back to stun.l.google.com:19302 for server-reflexive candidates when
 * no STUN server is configured, even with `iceServers: []` (lib/ice/src/ice.js,
 * `applyStunTurnServersFromOptions`, `DEFAULT_STUN_SERVER`): a server that must never talk to
 * third parties would look it up and send it Binding requests on every gather. This drops the
 * fallback: no STUN server configured means no srflx gathering (the SFU announces its host
 * addresses; `sfu.announcedAddresses` covers a public IP). Idempotent.
 * @returns false when werift's internals changed and nothing was patched
 */
export function disableWeriftDefaultStun(): boolean {
  const proto = (Connection as unknown as { prototype: Record<string, unknown> }).prototype;
  const original = proto['applyStunTurnServersFromOptions'] as ((this: WeriftIceConnection) => void) | undefined;
  if (typeof original !== 'function') return false;
  if ((original as { daripatched?: boolean }).daripatched) return true;
  const patched = function (this: WeriftIceConnection): void {
    original.call(this);
    if (!this.options?.stunServer) this.stunServer = undefined;
  };
  (patched as { daripatched?: boolean }).daripatched = true;
  proto['applyStunTurnServersFromOptions'] = patched;
  return true;
}

interface WeriftIceConnection {
  options?: { stunServer?: unknown };
  stunServer?: unknown;
}
