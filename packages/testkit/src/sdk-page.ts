/**
 * What the tests run inside a participant's page, whichever browser and driver: the SDK join
 * with an event log, and waits on decoded media. Each in-page function is self-contained (the
 * driver sends its source text), so it may not use anything from this module's scope.
 */

/**
 * A page the helpers can run a script in. playwright-core's `Page` fits as is; puppeteer-core's
 * is wrapped by `firefoxParticipant` (its `evaluate` types its argument differently).
 */
export interface ScriptPage {
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
}

/** Camera constraints: true = 320×240 at 15 fps and the microphone; false = no media. */
export type SdkMedia = boolean | { width: number; height: number; frameRate: number };

export interface SdkJoinArgs {
  token: string;
  signalingUrl: string;
  media: SdkMedia;
  roomOptions: Record<string, unknown>;
}

/**
 * In the page: loads /sdk/dari.mjs from the page's origin, creates `window.room`, the test's
 * event log `window.log` and `window.warnings` (the SDK's console warnings as text), turns on
 * camera and microphone (unless `media` is false), connects.
 * `log.peerConnectedAt[identity]` is the time from room.connect() to that peer connection's
 * `connected` state, ms; `log.frameTimes['<identity>:<source>']` holds the performance.now()
 * times (ms) of the video frames presented for that publication.
 */
export async function sdkJoinScript({ token, signalingUrl, media, roomOptions }: SdkJoinArgs): Promise<void> {
  const sdkPath = '/sdk/dari.mjs';
  const dari = await import(sdkPath);
  const w = window as unknown as Record<string, any>;
  const room = new dari.Room(roomOptions);
  const log = { connectStart: 0, peerConnectedAt: {} as Record<string, number>, signals: [] as unknown[], left: [] as string[], joined: [] as string[], subscribed: [] as string[], unsubscribed: [] as string[], files: [] as unknown[], states: [] as string[], errors: [] as string[], frameTimes: {} as Record<string, number[]> };
  w['room'] = room;
  w['log'] = log;
  // The SDK's warnings (failed negotiations, …), as text: a test can show or forbid them.
  const warnings: string[] = (w['warnings'] ??= []);
  if (!w['warnHooked']) {
    w['warnHooked'] = true;
    const warn = console.warn.bind(console);
    console.warn = (...args: unknown[]) => {
      warnings.push(args.map((a) => (a && typeof a === 'object' && 'message' in a ? `${String((a as Error).name)}: ${String((a as Error).message)}` : String(a))).join(' '));
      warn(...args);
    };
  }
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
}

/** Decoded frames and received audio packets per remote participant. */
export type MediaSample = Record<string, { framesDecoded: number; audioPackets: number }>;

/**
 * Waits until this page decodes video from every named peer and receives their audio, and the
 * decoded frame count keeps increasing (5 more frames from each after the first check).
 * Polls getStats() in the page every 250 ms; throws with the last sample after `timeoutMs`.
 */
export async function waitForMedia(p: { page: ScriptPage }, peers: string[], timeoutMs = 30_000): Promise<MediaSample> {
  return p.page.evaluate(
    async ({ peers, timeoutMs }: { peers: string[]; timeoutMs: number }) => {
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

/**
 * Waits until `predicate(arg)` is truthy in the page (polled every 100 ms; the same for every
 * driver, unlike playwright's and puppeteer's own waitForFunction).
 * @returns the predicate's last (truthy) value
 * @throws Error naming `what` after `timeoutMs`
 */
export async function waitInPage<A, R>(page: ScriptPage, predicate: (arg: A) => R | Promise<R>, arg: A, what: string, timeoutMs = 20_000): Promise<R> {
  return page.evaluate(
    async ({ source, arg, what, timeoutMs }: { source: string; arg: A; what: string; timeoutMs: number }) => {
      const fn = (0, eval)(`(${source})`) as (a: A) => R | Promise<R>;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = await fn(arg);
        if (value) return value;
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    { source: predicate.toString(), arg, what, timeoutMs },
  );
}

/** The SDK's console warnings in this page so far (see {@link sdkJoinScript}). */
export function sdkWarnings(page: ScriptPage): Promise<string[]> {
  return page.evaluate(() => ((window as unknown as Record<string, unknown>)['warnings'] as string[] | undefined) ?? [], undefined);
}
