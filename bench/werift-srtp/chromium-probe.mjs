#!/usr/bin/env node
/**
 * Probe of werift 0.25 against real Chromium (issue #4): what SRTP profile they negotiate, how
 * werift delivers a Chromium simulcast publication (rids q/h/f) and RFC 6464 audio levels, what
 * bandwidth feedback each side sends, and how Chromium's send-side estimate and its simulcast
 * layers behave with each feedback variant. Not a test: it prints what it sees.
 *
 *   node bench/werift-srtp/chromium-probe.mjs [--variant baseline|twcc|remb] [--seconds 15] [--remb-bps 2500000]
 *
 * Publisher leg: Chromium sends 1280x720@15 VP8 with three simulcast encodings (q: /4 150 kbps,
 * h: /2 500 kbps, f: 1500 kbps) plus Opus; werift answers with sdes:mid, rtp-stream-id and
 * ssrc-audio-level, rtcp-fb nack, nack pli, goog-remb, and
 *   baseline: nothing more (werift sends receiver reports, NACK and PLI only);
 *   twcc:     + transport-cc rtcp-fb and the transport-wide-cc extension (werift's ReceiverTWCC);
 *   remb:     + a REMB of --remb-bps from bwe-feedback.ts's RembGenerator.
 * Subscriber leg: a second werift connection forwards layers q and f to Chromium as two video
 * tracks, negotiating goog-remb and abs-send-time; Chromium's REMBs are read from the transport.
 * Needs `npx tsc -b packages/sfu` first, and Chromium (CHROMIUM_PATH or /usr/bin/chromium).
 * Both cores are busy while it runs (three VP8 encoders): keep --seconds short.
 */
import http from 'node:http';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  MediaStreamTrack,
  RtcpPayloadSpecificFeedback,
  RtcpTransportLayerFeedback,
  ReceiverEstimatedMaxBitrate,
  PictureLossIndication,
  TransportWideCC,
  RtcpRrPacket,
  RtcpSrPacket,
  RTP_EXTENSION_URI,
  useSdesMid,
  useSdesRTPStreamId,
  useAudioLevelIndication,
  useTransportWideCC,
  useAbsSendTime,
} from 'werift';
import { RembGenerator, RembEstimate } from '../../packages/sfu/dist/src/core/bwe-feedback.js';
import { patchWeriftSrtp } from '../../packages/sfu/dist/src/werift/patches/index.js';

const { values: args } = parseArgs({
  options: {
    variant: { type: 'string', default: 'baseline' },
    seconds: { type: 'string', default: '15' },
    'remb-bps': { type: 'string', default: '2500000' },
  },
});
const VARIANT = args.variant;
const SECONDS = Number(args.seconds);
if (!['baseline', 'twcc', 'remb'].includes(VARIANT)) throw new Error('--variant baseline|twcc|remb');
console.log('patchWeriftSrtp:', patchWeriftSrtp());

const t0 = Date.now();
const ts = () => ((Date.now() - t0) / 1000).toFixed(1).padStart(5);
const rtcpName = (p) =>
  p instanceof RtcpRrPacket ? 'RR' :
  p instanceof RtcpSrPacket ? 'SR' :
  p instanceof RtcpPayloadSpecificFeedback ? (p.feedback instanceof ReceiverEstimatedMaxBitrate ? 'REMB' : p.feedback instanceof PictureLossIndication ? 'PLI' : `PSFB${p.feedback?.count}`) :
  p instanceof RtcpTransportLayerFeedback ? (p.feedback instanceof TransportWideCC ? 'TWCC' : `RTPFB${p.feedback?.count}`) :
  p?.constructor?.name ?? String(p?.type);
const count = (m, k, n = 1) => m.set(k, (m.get(k) ?? 0) + n);
const show = (m) => [...m].map(([k, v]) => `${k}:${v}`).join(' ');

// --- page and browser -------------------------------------------------------------------------
const server = http.createServer((_, res) => res.end('<!doctype html><title>probe</title>'));
await new Promise((r) => server.listen(0, '127.0.0.1', r));
const url = `http://localhost:${server.address().port}/`;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', '--allow-loopback-in-peer-connection', '--disable-features=WebRtcHideLocalIpsWithMdns'],
});
const page = await browser.newPage();
page.on('pageerror', (e) => console.error('pageerror', e));
await page.goto(url);

// --- werift side ------------------------------------------------------------------------------
const videoFb = [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'goog-remb' }, ...(VARIANT === 'twcc' ? [{ type: 'transport-cc' }] : [])];
const pubConfig = {
  iceServers: [],
  iceAdditionalHostAddresses: ['127.0.0.1'],
  codecs: {
    video: [new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: videoFb })],
    audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
  },
  headerExtensions: {
    video: [useSdesMid(), useSdesRTPStreamId(), ...(VARIANT === 'twcc' ? [useTransportWideCC()] : [])],
    audio: [useSdesMid(), useAudioLevelIndication(), ...(VARIANT === 'twcc' ? [useTransportWideCC()] : [])],
  },
};
const pub = new RTCPeerConnection(pubConfig);
const layers = new Map(); // rid -> { track, ssrc, bytes, packets }
const audio = { packets: 0, levels: [], voice: 0 };
const fromChrome = new Map();
const toChrome = new Map();
let pubTransport;
let remb;
const forwards = []; // subscriber-leg forwarding tracks, by rid

pub.ontrack = (ev) => {
  const t = ev.transceiver;
  const tracks = t.receiver.tracks;
  console.log(`${ts()} ontrack kind=${ev.track.kind} transceiver.mid=${t.mid} event.track.rid=${ev.track.rid} event.track.ssrc=${ev.track.ssrc} receiver.tracks=[${tracks.map((x) => `rid=${x.rid} ssrc=${x.ssrc}`).join(', ')}]`);
  if (ev.track.kind === 'audio') {
    ev.track.onReceiveRtp.subscribe((rtp, ext) => {
      audio.packets++;
      const al = ext?.[RTP_EXTENSION_URI.audioLevelIndication];
      if (al) {
        audio.levels.push(al.level);
        if (al.v) audio.voice++;
      }
    });
    return;
  }
  for (const track of tracks) {
    const l = { track, ssrc: undefined, bytes: 0, packets: 0, extSeen: new Set() };
    layers.set(track.rid ?? '', l);
    track.onReceiveRtp.subscribe((rtp, ext) => {
      if (l.ssrc === undefined) {
        l.ssrc = rtp.header.ssrc;
        console.log(`${ts()} first packet of rid=${track.rid}: ssrc=${rtp.header.ssrc} track.ssrc=${track.ssrc} extensions=${JSON.stringify(Object.keys(ext ?? {}))} header ids=[${rtp.header.extensions.map((e) => e.id)}]`);
        void t.receiver.sendRtcpPLI(rtp.header.ssrc);
      }
      l.bytes += rtp.serialize().length;
      l.packets++;
      for (const k of Object.keys(ext ?? {})) l.extSeen.add(k.split(/[:/]/).pop());
      const f = forwards.find((x) => x.rid === track.rid);
      if (f) f.local.writeRtp(rtp);
    });
  }
  pubTransport = t.receiver.dtlsTransport;
  pubTransport.onRtcp.subscribe((p) => count(fromChrome, rtcpName(p)));
  const send = pubTransport.sendRtcp.bind(pubTransport);
  pubTransport.sendRtcp = (packets) => {
    for (const p of packets) {
      count(toChrome, p.type === undefined && p.serialize ? 'REMB(ours)' : rtcpName(p));
      if (p.feedback instanceof TransportWideCC) checkTwcc(p.feedback);
    }
    return send(packets);
  };
  if (VARIANT === 'remb') {
    remb = new RembGenerator({ senderSsrc: t.receiver.rtcpSsrc ?? 1, maxBitrateBps: Number(args['remb-bps']) });
    const poll = () => {
      const bytes = remb.poll(performance.now());
      if (bytes) void pubTransport.sendRtcp([{ serialize: () => Buffer.from(bytes) }]).catch(() => undefined);
    };
    pubTransport.onRtp.subscribe((rtp) => {
      remb.onRtp(rtp.header.ssrc, performance.now());
      poll();
    });
    setInterval(poll, 100).unref();
  }
};

/**
 * werift's own transport-cc feedback, checked against draft-holmer-rmcat-transport-wide-cc-
 * extensions-01 §3.1: every status chunk symbol "received" needs one receive delta; the run lengths
 * must add up to packet_status_count. Counts feedbacks that break either rule.
 */
const twccCheck = { feedbacks: 0, statusMismatch: 0, deltaMismatch: 0, example: null };
function checkTwcc(fb) {
  twccCheck.feedbacks++;
  let statuses = 0;
  let received = 0;
  for (const c of fb.packetChunks) {
    statuses += c.runLength;
    if (c.packetStatus === 1 || c.packetStatus === 2) received += c.runLength;
  }
  if (statuses !== fb.packetStatusCount) twccCheck.statusMismatch++;
  if (received !== fb.recvDeltas.length) twccCheck.deltaMismatch++;
  if ((statuses !== fb.packetStatusCount || received !== fb.recvDeltas.length) && !twccCheck.example) {
    twccCheck.example = { base: fb.baseSequenceNumber, packetStatusCount: fb.packetStatusCount, runLengths: fb.packetChunks.map((c) => `${c.packetStatus}x${c.runLength}`).join(','), recvDeltas: fb.recvDeltas.length, mediaSsrc: fb.mediaSourceSsrc };
  }
}

// Subscriber leg: werift offers two sendonly video tracks (forwarding q and f).
const sub = new RTCPeerConnection({
  iceServers: [],
  iceAdditionalHostAddresses: ['127.0.0.1'],
  codecs: { video: [new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'goog-remb' }] })], audio: [] },
  headerExtensions: { video: [useSdesMid(), useAbsSendTime()], audio: [] },
});
const subRembs = [];
const subEstimate = new RembEstimate();
for (const rid of ['q', 'f']) {
  const local = new MediaStreamTrack({ kind: 'video' });
  const transceiver = sub.addTransceiver(local, { direction: 'sendonly' });
  forwards.push({ rid, local, transceiver });
  transceiver.sender.onRtcp.subscribe((p) => {
    if (p instanceof RtcpPayloadSpecificFeedback && p.feedback instanceof PictureLossIndication) {
      const l = layers.get(rid);
      const pt = pub.getTransceivers().find((x) => x.kind === 'video');
      if (l?.ssrc !== undefined && pt) void pt.receiver.sendRtcpPLI(l.ssrc);
    }
  });
}

async function waitGathered(pc) {
  for (let i = 0; i < 100 && pc.iceGatheringState !== 'complete'; i++) await new Promise((r) => setTimeout(r, 50));
}

// --- negotiate the publisher leg -------------------------------------------------------------
const offer = await page.evaluate(async () => {
  const w = window;
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 1280, height: 720, frameRate: 15 }, audio: true });
  const pc = new RTCPeerConnection();
  w.pub = pc;
  pc.addTransceiver(stream.getVideoTracks()[0], {
    direction: 'sendonly',
    sendEncodings: [
      { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150000 },
      { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500000 },
      { rid: 'f', maxBitrate: 1500000 },
    ],
  });
  pc.addTransceiver(stream.getAudioTracks()[0], { direction: 'sendonly' });
  await pc.setLocalDescription();
  await new Promise((r) => (pc.iceGatheringState === 'complete' ? r() : pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && r())));
  return pc.localDescription.sdp;
});
await pub.setRemoteDescription({ type: 'offer', sdp: offer });
await pub.setLocalDescription(await pub.createAnswer());
await waitGathered(pub);
const answer = pub.localDescription.sdp;
console.log('--- werift answer to the publisher (media attributes that matter):');
console.log(answer.split('\r\n').filter((l) => /^(m=|a=(extmap|rtcp-fb|rid|simulcast|setup))/.test(l)).join('\n'));
await page.evaluate((sdp) => window.pub.setRemoteDescription({ type: 'answer', sdp }), answer);

// --- negotiate the subscriber leg -------------------------------------------------------------
await sub.setLocalDescription(await sub.createOffer());
await waitGathered(sub);
const subAnswer = await page.evaluate(async (sdp) => {
  const w = window;
  const pc = new RTCPeerConnection();
  w.sub = pc;
  w.subVideos = [];
  pc.ontrack = (e) => {
    const v = document.createElement('video');
    v.muted = true;
    v.autoplay = true;
    v.srcObject = new MediaStream([e.track]);
    document.body.append(v);
  };
  await pc.setRemoteDescription({ type: 'offer', sdp });
  await pc.setLocalDescription();
  await new Promise((r) => (pc.iceGatheringState === 'complete' ? r() : pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && r())));
  return pc.localDescription.sdp;
}, sub.localDescription.sdp);
await sub.setRemoteDescription({ type: 'answer', sdp: subAnswer });
console.log('--- Chromium answer on the subscriber leg:', subAnswer.split('\r\n').filter((l) => /^a=(extmap|rtcp-fb)/.test(l)).join(' | '));

let subTransportHooked = false;
const hookSubTransport = () => {
  const dt = forwards[0].transceiver.sender.dtlsTransport;
  if (!dt || subTransportHooked) return;
  subTransportHooked = true;
  dt.onRtcp.subscribe((p) => {
    if (p instanceof RtcpPayloadSpecificFeedback && p.feedback instanceof ReceiverEstimatedMaxBitrate) {
      subRembs.push({ at: ts(), bps: Number(p.feedback.bitrate), ssrcs: p.feedback.ssrcFeedbacks });
      subEstimate.onRemb(Number(p.feedback.bitrate), performance.now());
    }
  });
};

// --- sample --------------------------------------------------------------------------------------
const prev = new Map();
let cipherShown = false;
for (let s = 2; s <= SECONDS; s += 2) {
  await new Promise((r) => setTimeout(r, 2000));
  hookSubTransport();
  const st = await page.evaluate(async () => {
    const out = { outbound: [], pair: null, cipher: null, subCipher: null, inbound: [] };
    for (const r of (await window.pub.getStats()).values()) {
      if (r.type === 'outbound-rtp' && r.kind === 'video') out.outbound.push({ rid: r.rid, bytesSent: r.bytesSent, w: r.frameWidth, h: r.frameHeight, fps: r.framesPerSecond, q: r.qualityLimitationReason, active: r.active, target: r.targetBitrate });
      if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') out.pair = { available: r.availableOutgoingBitrate };
      if (r.type === 'transport') out.cipher = `${r.dtlsCipher} / ${r.srtpCipher} (dtlsRole ${r.dtlsRole})`;
    }
    for (const r of (await window.sub.getStats()).values()) {
      if (r.type === 'inbound-rtp' && r.kind === 'video') out.inbound.push({ mid: r.mid, frames: r.framesDecoded, w: r.frameWidth, bytes: r.bytesReceived });
      if (r.type === 'transport') out.subCipher = `${r.dtlsCipher} / ${r.srtpCipher} (dtlsRole ${r.dtlsRole})`;
    }
    return out;
  });
  if (!cipherShown && st.cipher) {
    console.log(`${ts()} Chromium transports, dtlsCipher / srtpCipher: publisher leg ${st.cipher}; subscriber leg ${st.subCipher}`);
    cipherShown = true;
  }
  const outs = st.outbound
    .sort((a, b) => String(a.rid).localeCompare(String(b.rid)))
    .map((o) => {
      const kbps = (((o.bytesSent - (prev.get(o.rid) ?? o.bytesSent)) * 8) / 2000).toFixed(0);
      prev.set(o.rid, o.bytesSent);
      return `${o.rid}:${o.w ?? '-'}x${o.h ?? '-'}@${o.fps ?? 0} ${kbps}kbps target=${o.target ? Math.round(o.target / 1000) : '-'}k lim=${o.q}`;
    });
  const recv = [...layers].map(([rid, l]) => {
    const kbps = ((l.bytes * 8) / 2 / 1000).toFixed(0);
    l.bytes = 0;
    return `${rid}:${kbps}k`;
  });
  const lastRemb = subRembs.at(-1);
  console.log(
    `${ts()} chromium-send available=${st.pair?.available ? Math.round(st.pair.available / 1000) : '-'}k | ${outs.join(' | ')}\n` +
      `       werift-recv ${recv.join(' ')} | rtcp werift->chromium {${show(toChrome)}} chromium->werift {${show(fromChrome)}}\n` +
      `       subscriber-leg: chromium decodes ${st.inbound.map((i) => `mid${i.mid}:${i.w ?? '-'}w/${i.frames ?? 0}f`).join(' ')}; last REMB from chromium ${lastRemb ? `${Math.round(lastRemb.bps / 1000)}k ssrcs=[${lastRemb.ssrcs}]` : 'none'}; sender.receiverEstimatedMaxBitrate=[${forwards.map((f) => f.transceiver.sender.receiverEstimatedMaxBitrate ?? '-')}]`,
  );
}
if (VARIANT === 'twcc') console.log(`werift transport-cc feedback: ${JSON.stringify(twccCheck)}`);
console.log(`audio: ${audio.packets} packets, ${audio.levels.length} with ssrc-audio-level, V flag on ${audio.voice}, level (-dBov) min ${Math.min(...audio.levels)} max ${Math.max(...audio.levels)}`);
console.log(`layer extensions seen by werift: ${[...layers].map(([rid, l]) => `${rid}=[${[...l.extSeen]}]`).join(' ')}`);
console.log(`subscriber-leg REMBs: ${subRembs.length}, first ${JSON.stringify(subRembs[0])}, estimate now ${subEstimate.estimate(performance.now())}`);
await browser.close();
await Promise.allSettled([pub.close(), sub.close()]);
server.close();
process.exit(0);
