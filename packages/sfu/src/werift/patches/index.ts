/**
 * Where Dari works around werift (0.25.x), one file per workaround, each with a test that fails
 * without it:
 * - srtp.ts (+ srtp-cipher.ts): leaner byte-identical SRTP, and the RTP header-parse guard
 *   (a pre-authentication denial of service);
 * - nack-per-ssrc.ts: one NACK generator per simulcast layer;
 * - transports.ts: every DTLS/ICE transport a connection creates is stopped on close (and RTCP
 *   werift routes nowhere, such as FIRs, can be read);
 * - default-stun.ts: no fallback to a public STUN server;
 * - send-now.ts: forwarded RTP sent synchronously, without werift's five promises and per-packet
 *   bookkeeping, and with a correct abs-send-time.
 * Elsewhere in the adapter: REMB toward publishers and from subscribers (werift sends none, and
 * hands a leg's REMBs to one sender), forwarded packets without the publisher's header extensions,
 * removeTrack alone on unpublish (sfu-room.ts, subscriber-output.ts).
 */
import { disableWeriftDefaultStun } from './default-stun.js';
import { patchWeriftSrtp, type SrtpPatchStatus } from './srtp.js';
import type { SfuLogger } from '../types.js';

export { closeConnection, trackTransports } from './transports.js';
export { disableWeriftDefaultStun } from './default-stun.js';
export { nackPerSsrc } from './nack-per-ssrc.js';
export { sendRtp, sendRtpNow, ntpNow, absSendTime } from './send-now.js';
export { guardWeriftRtpHeaderParse, patchWeriftSrtp, unpatchWeriftSrtp, srtpSample, type SrtpPatchStatus } from './srtp.js';

/** What {@link applyWeriftWorkarounds} achieved. */
export interface WorkaroundStatus {
  srtp: SrtpPatchStatus;
  /** werift's ICE no longer falls back to stun.l.google.com. */
  defaultStunDisabled: boolean;
}

/**
 * Applies the process-wide workarounds once, before the SFU creates peer connections, and checks
 * them: when the SRTP patch is not applied (werift's internals changed, or its self-test found a
 * byte that differs), werift's own SRTP stays in use and one warn line says why; likewise when
 * werift's default STUN server could not be disabled. Idempotent (later calls log nothing new).
 */
export function applyWeriftWorkarounds(logger: SfuLogger): WorkaroundStatus {
  const first = !applied;
  applied = true;
  const srtp = patchWeriftSrtp();
  const defaultStunDisabled = disableWeriftDefaultStun();
  if (first && !srtp.patched) logger.warn({ reason: srtp.reason }, "werift SRTP patch not applied: using werift's own SRTP");
  if (first && !defaultStunDisabled) logger.warn('werift internals changed: could not disable its default STUN server (stun.l.google.com)');
  return { srtp, defaultStunDisabled };
}

let applied = false;
