/**
 * `@dari/sfu`: Dari's selective forwarding unit.
 *
 * - `core/` — the sans-I/O core ({@link SfuCore}): participants, publications, subscriptions,
 *   down tracks, simulcast layers, keyframes, bandwidth, active speakers (also `@dari/sfu/core`).
 * - `werift/` — the werift adapter ({@link SfuManager}, {@link SfuRoom}): browsers' publisher and
 *   subscriber legs, the negotiation queue, the core's actions carried out, werift workarounds.
 * - `local-rtp/` — publication sources and subscriber sinks on loopback UDP for server-side
 *   participants (MCU mixer, ingest, recording).
 * - `rtp/`, `sdp/` — codec and SDP helpers shared by all of them.
 */
export * from './core/index.js';
export { SfuManager, type SfuManagerEvents } from './werift/sfu-manager.js';
export { SfuRoom } from './werift/sfu-room.js';
export type { WhepViewer } from './werift/whep-session.js';
export type { SfuOptions, SfuLogger, SfuCounters, SfuMetricsSample, CompositeFallbackEvent } from './werift/types.js';
export {
  applyWeriftWorkarounds,
  closeConnection,
  disableWeriftDefaultStun,
  guardWeriftRtpHeaderParse,
  nackPerSsrc,
  patchWeriftSrtp,
  trackTransports,
  unpatchWeriftSrtp,
  type SrtpPatchStatus,
  type WorkaroundStatus,
} from './werift/patches/index.js';
export {
  SfuApiError,
  type SfuApiErrorReason,
  type LocalRtpPublication,
  type LocalRtpPublishOptions,
  type LocalRtpSubscription,
  type ServerParticipantKind,
} from './local-rtp/local-rtp-room.js';
export { LocalRtpSource, type LocalRtpSourceOptions, type UdpAddress } from './local-rtp/local-rtp-source.js';
export { LocalRtpSink } from './local-rtp/local-rtp-sink.js';
export { encodePli, keyframeRequests, isRtcp } from './rtp/rtcp-feedback.js';
