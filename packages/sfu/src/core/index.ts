/**
 * `@dari/sfu/core`: the sans-I/O part of the SFU (no werift, no sockets, no timers) and the
 * codec and SDP helpers it shares with the adapters. Safe to import anywhere, the signaling
 * core included.
 */
export { SfuCore, type SubscriberFeedback } from './sfu-core.js';
export * from './sfu-core-types.js';
export { SFU_ROOM_POLICY, COMPOSITE_STREAM_ID, isCompositeVideo, type SubscriptionPolicy, type PolicySubscriber, type PolicyPublication } from './subscription-policy.js';
export { CompositeFallback, COMPOSITE_FALLBACK_DEFAULTS, resolveFallbackOptions, type CompositeFallbackOptions, type FallbackDecision, type FallbackReason, type FallbackSample } from './composite-fallback.js';
export { orderSimulcastLayers } from './model.js';
export { DownTrack, KeyframeRequestLimiter, type DownTrackOptions, type RouteResult } from './down-track.js';
export { chooseLayer, LayerMonitor, COVER_RATIO, CONGESTED_RATIO, HEADROOM_RATIO, type LayerInfo, type LayerChoice, type SubscriberView } from './layer-selection.js';
export { ActiveSpeakerDetector, ACTIVE_SPEAKER_DEFAULTS, type ActiveSpeaker, type ActiveSpeakerOptions } from './active-speaker.js';
export { RembEstimate, RembGenerator, decodeRemb, encodeRemb, type Remb, type RembGeneratorOptions } from './bwe-feedback.js';
export { readRtpHeader, findRtpHeaderExtension, rewriteRtp, seqNewer, type RtpHeaderView } from '../rtp/rtp-header.js';
export { isVp8Keyframe, vp8KeyframeSize, VP8 } from '../rtp/vp8.js';
export { OPUS, PCMU, PCMA, sameCodec, type AudioCodecHooks, type VideoCodecHooks } from '../rtp/codec.js';
export { isH264Keyframe, h264KeyframeSize, parseH264SpsSize, parseProfileLevelId, h264Codec, h264Fmtp, H264_CONSTRAINED_BASELINE, NAL, type H264Profile } from '../rtp/h264.js';
export { WEBRTC_H264_PROFILES, FORWARDED_VIDEO_CODECS, FORWARDED_AUDIO_CODECS, PUBLISHED_AUDIO_CODECS, forwardedH264Profile, videoCodecFor, audioCodecFor, fmtpParameters, type SdpCodec } from '../rtp/codec-table.js';
export { KeyframeCache, replayKeyframe, KEYFRAME_CACHE_MAX_PACKETS, DEFAULT_FRAME_TICKS } from './keyframe-cache.js';
export { AUDIO_LEVEL_URI, decodeAudioLevel, readAudioLevel, type AudioLevel } from '../rtp/audio-level.js';
export { sdpProblem, sendingMids, filterOfferCodecs, MAX_M_LINES, FORWARDED_CODECS } from '../sdp/sdp-policy.js';
