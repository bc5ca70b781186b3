/**
 * werift set-up shared by the Dari and Janus bots: peer-connection configuration for loopback,
 * the codecs both SFUs forward, a synthetic publisher on a peer connection, and receive
 * statistics on a subscriber's tracks.
 *
 * werift facts handled here: its default `iceServers` is a public STUN server (we always pass
 * `[]`); loopback is only gathered with `iceAdditionalHostAddresses`; it does not answer PLIs by
 * itself (the synthetic publisher does: the next frame is a keyframe).
 */
import { networkInterfaces } from 'node:os';
import {
  Connection,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  MediaStreamTrack,
  RtcpPayloadSpecificFeedback,
  PictureLossIndication,
} from 'werift';
import { SyntheticPublisher, StreamStats } from './media.mjs';

export const LOOPBACK = '127.0.0.1';

export const VP8 = () =>
  new RTCRtpCodecParameters({
    mimeType: 'video/VP8',
    clockRate: 90000,
    payloadType: 96,
    rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'goog-remb' }],
  });
export const OPUS = () => new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: 111 });

/**
 * The machine's first non-internal IPv4 address (what Janus gathers: it skips loopback
 * interfaces), or null.
 */
export function hostAddress() {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if ((a.family === 'IPv4' || a.family === 4) && !a.internal) return a.address;
  }
  return null;
}

/**
 * werift 0.25.2 falls back to stun.l.google.com:19302 for server-reflexive candidates even with
 * `iceServers: []` (ice.ts `applyStunTurnServersFromOptions`: `?? DEFAULT_STUN_SERVER`). This
 * turns that fallback off for every werift connection of the calling process: a connection
 * gathers server-reflexive candidates only from a STUN server it was given. Opt-in, for bot
 * processes; it changes werift's behaviour process-wide.
 */
export function disableWeriftDefaultStun() {
  const proto = Connection.prototype;
  if (proto.__noDefaultStun || typeof proto.applyStunTurnServersFromOptions !== 'function') return;
  const original = proto.applyStunTurnServersFromOptions;
  proto.applyStunTurnServersFromOptions = function () {
    original.call(this);
    if (!this.options?.stunServer) this.stunServer = undefined;
  };
  proto.__noDefaultStun = true;
}

/**
 * RTCPeerConnection configuration with host candidates on one address only (default
 * 127.0.0.1): every ICE socket is bound to it (`iceInterfaceAddresses`; loopback also needs
 * `iceAdditionalHostAddresses`) and only pairs whose local candidate is on it are checked.
 * werift may still list the machine's other addresses as candidates on those sockets:
 * {@link usableCandidate} and {@link onlyCandidatesOn} keep them out of signalling.
 */
export function peerConfig({ address = LOOPBACK } = {}) {
  return {
    iceServers: [],
    iceUseIpv6: false,
    iceUseTcp: false,
    bundlePolicy: 'max-bundle',
    codecs: { video: [VP8()], audio: [OPUS()] },
    iceInterfaceAddresses: { udp4: address },
    ...(address === LOOPBACK ? { iceAdditionalHostAddresses: [LOOPBACK] } : {}),
    iceFilterCandidatePair: (pair) => pair.protocol?.localCandidate?.host === address,
  };
}

/** The address of an ICE candidate line ("candidate:… 1 udp prio ADDR PORT typ …"), or null. */
export function candidateAddress(candidate) {
  const parts = (candidate?.candidate ?? '').replace(/^a=/, '').split(' ');
  return parts.length >= 6 ? parts[4] : null;
}

/** A UDP candidate on `address` (any address when `address` is null). */
export function usableCandidate(candidate, address = LOOPBACK) {
  if (!candidate || !candidate.candidate) return false;
  if (!/ udp /i.test(candidate.candidate)) return false;
  return address === null || candidateAddress(candidate) === address;
}

/** `sdp` without the a=candidate lines of other addresses than `address`. */
export function onlyCandidatesOn(sdp, address = LOOPBACK) {
  return sdp
    .split('\r\n')
    .filter((line) => !line.startsWith('a=candidate:') || candidateAddress({ candidate: line }) === address)
    .join('\r\n');
}

/**
 * Adds a sendonly VP8 and an Opus transceiver to `pc` and returns the synthetic publisher that
 * feeds them (call `.start()` once connected). PLI/FIR from the server → next frame is a keyframe.
 */
export function addSyntheticMedia(pc, mediaOptions = {}, streamId = undefined) {
  const video = new MediaStreamTrack({ kind: 'video' });
  const audio = new MediaStreamTrack({ kind: 'audio' });
  const vt = pc.addTransceiver(video, { direction: 'sendonly' });
  const at = pc.addTransceiver(audio, { direction: 'sendonly' });
  if (streamId) {
    vt.sender.streamId = streamId;
    at.sender.streamId = streamId;
  }
  const publisher = new SyntheticPublisher({
    ...mediaOptions,
    sendVideo: (p) => video.writeRtp(p),
    sendAudio: (p) => audio.writeRtp(p),
  });
  vt.sender.onRtcp.subscribe((rtcp) => {
    if (rtcp instanceof RtcpPayloadSpecificFeedback) {
      const fb = rtcp.feedback;
      if (fb instanceof PictureLossIndication || fb?.constructor?.name === 'FullIntraRequest') publisher.requestKeyframe();
    }
  });
  return { publisher, video, audio, transceivers: [vt, at] };
}

/** Counts what arrives on a subscriber's track into a new {@link StreamStats}. */
export function receiveInto(track, latency) {
  const stats = new StreamStats(track.kind, latency);
  track.onReceiveRtp.subscribe((rtp) => stats.onRtp(rtp));
  return stats;
}

/** ICE and DTLS transport states of `pc`, for error messages. */
export function transportStates(pc) {
  const safe = (f) => {
    try {
      return f();
    } catch {
      return '?';
    }
  };
  return `ice ${safe(() => pc.iceTransports.map((t) => t.state).join(',')) || '-'}, dtls ${safe(() => pc.dtlsTransports.map((t) => t.state).join(',')) || '-'}`;
}

/** Resolves when `pc` is connected, rejects on failed/closed or after `timeoutMs`. */
export function whenConnected(pc, timeoutMs, what = 'peer connection') {
  if (pc.connectionState === 'connected') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.unSubscribe();
      reject(new Error(`${what}: not connected after ${timeoutMs} ms (${pc.connectionState}; ${transportStates(pc)})`));
    }, timeoutMs);
    const sub = pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected') {
        clearTimeout(timer);
        sub.unSubscribe();
        resolve();
      } else if (state === 'failed' || state === 'closed') {
        clearTimeout(timer);
        sub.unSubscribe();
        reject(new Error(`${what}: ${state} (${transportStates(pc)})`));
      }
    });
  });
}

export { RTCPeerConnection };
