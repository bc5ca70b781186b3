/**
 * Real Chromium for end-to-end tests: Debian's `chromium` driven by playwright-core, with fake
 * capture devices. Each participant gets its own browser context (separate storage, own devices).
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { sdkJoinScript, type SdkMedia } from './sdk-page.js';

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

/** A participant page in Chromium: the SDK loaded from the server, a Room, and an event log. */
export interface Participant {
  page: Page;
  identity: string;
}

/**
 * Opens a page on the server's origin in a fresh browser context, loads /sdk/dari.mjs, turns on
 * camera (320×240) and microphone, and connects; see {@link sdkJoinScript} for `window.room`
 * and `window.log`.
 */
export async function joinWithSdk(
  browser: Browser,
  baseUrl: string,
  signalingUrl: string,
  token: string,
  identity: string,
  /** true: camera 320×240 at 15 fps and microphone; or the camera's constraints; false: nothing */
  media: SdkMedia = true,
  roomOptions: Record<string, unknown> = {},
): Promise<Participant> {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[${identity}] pageerror`, err));
  await page.goto(`${baseUrl}/healthz`);
  await page.evaluate(sdkJoinScript, { token, signalingUrl, media, roomOptions });
  return { page, identity };
}
