/**
 * A Chromium viewer for bench/ingest: one page, one receive-only RTCPeerConnection at a time,
 * driven from Node (Dari: a WHEP offer; Janus: the Streaming plugin's offer answered), and the
 * wall-clock time (ms since the epoch, the same clock as Node's Date.now()) of the first decoded
 * video frame, read from getStats (inbound-rtp framesDecoded, polled every 10 ms).
 *
 * Chromium runs with the test flags of @dari/testkit, and host candidates not hidden behind mDNS:
 * Janus 1.1.2 gathers no loopback address (see bench/sfu/janus-bot.mjs), so the viewer reaches
 * it on the machine's own address.
 */
import { launchChromium } from '../../packages/testkit/dist/src/index.js';

const GATHER = `(pc) => new Promise((resolve) => {
  if (pc.iceGatheringState === 'complete') return resolve();
  const t = setTimeout(resolve, 3000);
  pc.addEventListener('icegatheringstatechange', () => { if (pc.iceGatheringState === 'complete') { clearTimeout(t); resolve(); } });
})`;

export async function startViewer() {
  const browser = await launchChromium(['--disable-features=WebRtcHideLocalIpsWithMdns']);
  const page = await (await browser.newContext()).newPage();
  await page.goto('about:blank');
  return {
    /** A receive-only offer (video, audio), candidates gathered. */
    offer: () =>
      page.evaluate(async (gather) => {
        window.pc?.close();
        const pc = (window.pc = new RTCPeerConnection());
        pc.addTransceiver('video', { direction: 'recvonly' });
        pc.addTransceiver('audio', { direction: 'recvonly' });
        await pc.setLocalDescription();
        await eval(gather)(pc);
        return pc.localDescription.sdp;
      }, GATHER),
    accept: (sdp) => page.evaluate((sdp) => window.pc.setRemoteDescription({ type: 'answer', sdp }), sdp),
    /** The answer to a server's offer, candidates gathered. */
    answer: (sdp) =>
      page.evaluate(
        async ({ sdp, gather }) => {
          window.pc?.close();
          const pc = (window.pc = new RTCPeerConnection());
          await pc.setRemoteDescription({ type: 'offer', sdp });
          await pc.setLocalDescription();
          await eval(gather)(pc);
          return pc.localDescription.sdp;
        },
        { sdp, gather: GATHER },
      ),
    /** Resolves with {at, mimeType} at the first decoded video frame; rejects after `timeoutMs`. */
    firstFrame: (timeoutMs = 20_000) =>
      page.evaluate(async (timeoutMs) => {
        const deadline = Date.now() + timeoutMs;
        while (Date.now() < deadline) {
          const report = await window.pc.getStats();
          let found;
          report.forEach((s) => {
            if (s.type === 'inbound-rtp' && s.kind === 'video' && s.framesDecoded > 0) found = { at: performance.timeOrigin + performance.now(), mimeType: report.get(s.codecId)?.mimeType };
          });
          if (found) return found;
          await new Promise((r) => setTimeout(r, 10));
        }
        throw new Error(`no video frame decoded in ${timeoutMs} ms (ICE ${window.pc.iceConnectionState})`);
      }, timeoutMs),
    close: () => page.evaluate(() => window.pc?.close()),
    stop: () => browser.close(),
  };
}
