/**
 * Real Firefox for end-to-end tests: Debian's `firefox-esr` driven by puppeteer-core over
 * WebDriver BiDi (Playwright cannot drive Debian's build, and geckodriver is not packaged), with
 * fake capture devices. Firefox never uses 127.0.0.1 for ICE, so a test runs it in a network
 * namespace linked to the host (`linkNamespaceToHost` in @dari/lab) and binds its server to the
 * host end of that link.
 *
 * Its fake camera is a moving colour pattern and its fake microphone a sine tone; there is no
 * flag for an audio file. H.264 needs the OpenH264 plugin, which Firefox downloads by itself:
 * the tests never get it (no network), so Firefox calls use VP8.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import puppeteer, { type Browser, type BrowserContext, type Page } from 'puppeteer-core';
import { sdkJoinScript, type ScriptPage, type SdkMedia } from './sdk-page.js';

/** puppeteer-core's browser, as the Firefox helpers return it. */
export type FirefoxBrowser = Browser;

export const FIREFOX = process.env['FIREFOX_PATH'] ?? '/usr/bin/firefox-esr';

/** Preferences of every test Firefox (about:config names). */
export const FIREFOX_PREFS: Readonly<Record<string, unknown>> = {
  // Fake camera and microphone, no permission prompt.
  'media.navigator.streams.fake': true,
  'media.navigator.permission.disabled': true,
  // Raw host candidates instead of mDNS names.
  'media.peerconnection.ice.obfuscate_host_addresses': false,
  // No name lookups: the tests use IP literals, and nothing may leave the machine.
  'network.dns.disabled': true,
  // No OpenH264 download, no update checks.
  'media.gmp-gmpopenh264.enabled': false,
  'media.gmp-manager.url': '',
  'app.update.enabled': false,
};

export interface FirefoxOptions {
  /** Run Firefox inside this network namespace (`ip netns exec`; root only). */
  netns?: string;
  /** With `netns`: the namespace's own address, where the BiDi relay listens for puppeteer. */
  relayIp?: string;
  /**
   * Hosts whose plain-HTTP origins count as secure (getUserMedia, crypto.subtle), like
   * Chromium's --unsafely-treat-insecure-origin-as-secure; pref `dom.securecontext.allowlist`.
   */
  secureHosts?: string[];
  /** More preferences. */
  prefs?: Record<string, unknown>;
}

const RELAY = fileURLToPath(new URL('./bidi-relay.js', import.meta.url));

/**
 * Launches headless Firefox on a fresh temporary profile.
 * @throws Error when `netns` is given without `relayIp`, or when Firefox does not start
 */
export async function launchFirefox(options: FirefoxOptions = {}): Promise<Browser> {
  const prefs: Record<string, unknown> = { ...FIREFOX_PREFS, ...options.prefs };
  if (options.secureHosts?.length) prefs['dom.securecontext.allowlist'] = options.secureHosts.join(',');
  let executablePath = FIREFOX;
  let dir: string | undefined;
  if (options.netns !== undefined) {
    if (!options.relayIp) throw new Error('launchFirefox: netns needs relayIp (the namespace address puppeteer connects to)');
    dir = mkdtempSync(join(tmpdir(), 'dari-firefox-'));
    executablePath = join(dir, 'firefox');
    writeFileSync(executablePath, `#!/bin/sh\nexec ip netns exec ${options.netns} ${process.execPath} ${RELAY} ${options.relayIp} ${FIREFOX} "$@"\n`);
    chmodSync(executablePath, 0o755);
  }
  try {
    const browser = await puppeteer.launch({ browser: 'firefox', executablePath, headless: true, extraPrefsFirefox: prefs });
    if (dir) browser.process()?.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    return browser;
  } catch (err) {
    if (dir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** puppeteer-core's page as a {@link ScriptPage}, so the shared helpers run in it. */
export function scriptPageOf(tab: Page): ScriptPage {
  return {
    evaluate: <R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R> => tab.evaluate(fn as (arg: unknown) => R | Promise<R>, arg as unknown) as Promise<R>,
  };
}

/** A participant page in Firefox: `page` runs the shared helpers, `tab` is puppeteer's page. */
export interface FirefoxParticipant {
  identity: string;
  page: ScriptPage;
  tab: Page;
  context: BrowserContext;
}

/**
 * Opens `baseUrl/healthz` in a fresh browser context (its own storage and devices), loads the
 * SDK, turns on camera and microphone and connects: {@link sdkJoinScript}. Page errors and the
 * SDK's console warnings are copied to stderr, prefixed with the identity.
 */
export async function joinWithSdkFirefox(
  browser: Browser,
  baseUrl: string,
  signalingUrl: string,
  token: string,
  identity: string,
  media: SdkMedia = true,
  roomOptions: Record<string, unknown> = {},
): Promise<FirefoxParticipant> {
  const context = await browser.createBrowserContext();
  const tab = await context.newPage();
  watchFirefoxPage(tab, identity);
  await tab.goto(`${baseUrl}/healthz`);
  const page = scriptPageOf(tab);
  await page.evaluate(sdkJoinScript, { token, signalingUrl, media, roomOptions });
  return { identity, page, tab, context };
}

/** Copies a page's uncaught errors and console warnings/errors to stderr. */
export function watchFirefoxPage(tab: Page, label: string): void {
  tab.on('pageerror', (err) => console.error(`[${label}] pageerror`, err));
  tab.on('console', (msg) => {
    if (msg.type() !== 'warn' && msg.type() !== 'error') return;
    // Arguments are handles: describe errors by name and message, the rest as text.
    void Promise.all(
      msg.args().map((arg) => arg.evaluate((v: unknown) => (v instanceof Error ? `${v.name}: ${v.message}` : typeof v === 'string' ? v : JSON.stringify(v))).catch(() => '?')),
    ).then((parts) => console.error(`[${label}] console.${msg.type()}: ${parts.join(' ')}`));
  });
}
