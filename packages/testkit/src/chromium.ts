/**
 * Real Chromium for end-to-end tests: Debian's `chromium` driven by playwright-core, with fake
 * capture devices. Each participant gets its own browser context (separate storage, own devices).
 */
import { chromium, type Browser, type Page } from 'playwright-core';

export const CHROMIUM = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--allow-loopback-in-peer-connection',
  // Loopback tests: advertise raw host candidates instead of mDNS names.
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

/**
 * Launches headless Chromium. playwright-core's launch() always starts it on a fresh temporary
 * user-data dir of its own (and refuses a --user-data-dir argument).
 * @param executablePath e.g. a wrapper that runs Chromium inside a network namespace
 */
export async function launchChromium(extraArgs: string[] = [], executablePath: string = CHROMIUM): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args: [...CHROMIUM_ARGS, ...extraArgs] });
}

/** A participant page: the SDK loaded from the server, a Room, and an event log. */
export interface Participant {
  page: Page;
  identity: string;
}

/**
 * Opens a page on the server's origin, loads /sdk/dari.mjs, turns on camera (320×240) and
 * microphone, and connects. The page keeps `window.room` and `window.log` (the test's own page,
 * not the SDK's); `log.peerConnectedAt[identity]` is the time from room.connect() to that peer
 * connection's `connected` state, ms; `log.frameTimes['<identity>:<source>']` holds the
 * performance.now() times (ms) of the video frames presented for that publication.
 */
export async function joinWithSdk(
  browser: Browser,
  baseUrl: string,
  signalingUrl: string,
  token: string,
  identity: string,
  /** true: camera 320×240 at 15 fps and microphone; or the camera's constraints; false: nothing */
  media: boolean | { width: number; height: number; frameRate: number } = true,
  roomOptions: Record<string, unknown> = {},
): Promise<Participant> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[${identity}] pageerror`, err));
  await page.goto(`${baseUrl}/healthz`);
  await page.evaluate(
    async ({ token, signalingUrl, media, roomOptions }) => {
      const sdkPath = '/sdk/dari.mjs';
      const dari = await import(sdkPath);
      const w = window as unknown as Record<string, any>;
      const room = new dari.Room(roomOptions);
      const log = { connectStart: 0, peerConnectedAt: {} as Record<string, number>, signals: [] as unknown[], left: [] as string[], joined: [] as string[], subscribed: [] as string[], unsubscribed: [] as string[], files: [] as unknown[], states: [] as string[], errors: [] as string[], frameTimes: {} as Record<string, number[]> };
      w['room'] = room;
      w['log'] = log;
      room.on('signal', (s: unknown) => log.signals.push(s));
      room.on('participantConnected', (p: any) => log.joined.push(p.identity));
      room.on('participantDisconnected', (p: any) => log.left.push(p.identity));
      // One element per remote publication; a new track (e.g. after a P2P↔SFU switch) replaces
      // the old one in it. Video frames presented are timed (requestVideoFrameCallback).
      const elements = new Map<string, HTMLMediaElement>();
      room.on('trackSubscribed', (track: MediaStreamTrack, pub: any, p: any) => {
        const key = `${p.identity}:${pub.source}`;
        log.subscribed.push(key);
        let el = elements.get(key);
        if (!el) {
          el = document.createElement(track.kind === 'video' ? 'video' : 'audio') as HTMLMediaElement;
          el.muted = true;
          el.autoplay = true;
          el.dataset['identity'] = p.identity;
          el.dataset['source'] = pub.source;
          elements.set(key, el);
          document.body.append(el);
          if (el instanceof HTMLVideoElement) {
            const video = el;
            const times: number[] = (log.frameTimes[key] = []);
            const onFrame = () => {
              times.push(performance.now());
              if (times.length > 4000) times.splice(0, 1000);
              video.requestVideoFrameCallback(onFrame);
            };
            video.requestVideoFrameCallback(onFrame);
          }
        }
        el.srcObject = new MediaStream([track]);
      });
      room.on('trackUnsubscribed', (_t: unknown, pub: any, p: any) => log.unsubscribed.push(`${p.identity}:${pub.source}`));
      room.on('fileReceived', (f: any) => log.files.push({ name: f.name, size: f.size, sha256: f.sha256, from: f.from }));
      room.on('connectionStateChanged', (s: string) => log.states.push(s));
      room.on('error', (e: any) => log.errors.push(e.code));
      room.on('peerConnectionStateChanged', (id: string, state: string) => {
        if (state === 'connected' && log.peerConnectedAt[id] === undefined) log.peerConnectedAt[id] = performance.now() - log.connectStart;
      });
      if (media) {
        const constraints = media === true ? { width: 320, height: 240, frameRate: 15 } : media;
        await room.localParticipant.setCameraEnabled(true, { constraints });
        await room.localParticipant.setMicrophoneEnabled(true);
      }
      log.connectStart = performance.now();
      await room.connect(signalingUrl, token);
    },
    { token, signalingUrl, media, roomOptions },
  );
  return { page, identity };
}

/**
 * Waits until this page decodes video from every named peer and receives their audio, and the
 * decoded frame count keeps increasing (5 more frames from each after the first check).
 * Polls getStats() in the page every 250 ms; throws with the last sample after `timeoutMs`.
 */
export async function waitForMedia(p: Participant, peers: string[], timeoutMs = 30_000): Promise<Record<string, { framesDecoded: number; audioPackets: number }>> {
  return p.page.evaluate(
    async ({ peers, timeoutMs }) => {
      const room = (window as unknown as Record<string, any>)['room'];
      const sample = async () => {
        const infos = (await room.getConnectionInfo()) as any[];
        const out: Record<string, { framesDecoded: number; audioPackets: number }> = {};
        for (const id of peers) {
          const info = infos.find((i) => i.peer === id);
          out[id] = { framesDecoded: info?.video?.framesDecoded ?? 0, audioPackets: info?.audio?.packetsReceived ?? 0 };
        }
        return out;
      };
      const deadline = Date.now() + timeoutMs;
      let first: Record<string, { framesDecoded: number; audioPackets: number }> | null = null;
      let last = await sample();
      while (Date.now() < deadline) {
        last = await sample();
        const flowing = peers.every((id) => last[id]!.framesDecoded > 10 && last[id]!.audioPackets > 10);
        if (flowing && !first) first = last;
        else if (flowing && first && peers.every((id) => last[id]!.framesDecoded >= first![id]!.framesDecoded + 5)) return last;
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`media from ${peers.join(', ')} not flowing: ${JSON.stringify(last)}`);
    },
    { peers, timeoutMs },
  );
}
