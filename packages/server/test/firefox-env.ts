/**
 * The setting of the Firefox end-to-end tests: Firefox never uses 127.0.0.1 for ICE, so it runs
 * in a network namespace linked to the host by a veth pair (@dari/lab `linkNamespaceToHost`),
 * `dari serve` binds the host end of that link, and Chromium joins from the host. Needs root
 * (like the NAT lab); without it, or without firefox-esr, the tests skip and say why.
 */
import { existsSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { Lab, labUnavailable, linkNamespaceToHost, type HostLink } from '@dari/lab';
import { FIREFOX, launchChromium, launchFirefox, type FirefoxBrowser } from '@dari/testkit';
import type { RunningServer } from '../src/serve.js';
import { testServer } from './helpers.js';

/** Why the Firefox tests cannot run here, or undefined when they can. */
export function firefoxUnavailable(): string | undefined {
  const why = labUnavailable();
  if (why) return `Firefox runs in a network namespace: ${why}`;
  if (!existsSync(FIREFOX)) return `no ${FIREFOX}: install Debian's firefox-esr`;
  return undefined;
}

export interface FirefoxEnv {
  link: HostLink;
  server: RunningServer;
  firefox: FirefoxBrowser;
  chromium: Browser;
  /** Closes both browsers and the server, and deletes the namespace. */
  close(): Promise<void>;
}

/**
 * Creates the namespace, starts a server on the host end of its link (dev mode, ephemeral ports)
 * and launches Firefox inside the namespace and Chromium on the host, both treating the server's
 * plain-HTTP origin as secure.
 * @param config server configuration on top of `{ host, dev: true }`
 */
export async function startFirefoxEnv(config: Record<string, unknown> = {}): Promise<FirefoxEnv> {
  const lab = new Lab();
  const opened: { close(): Promise<void> }[] = [];
  const close = async () => {
    for (const o of opened.splice(0).reverse()) await o.close().catch(() => undefined);
    lab.destroy();
  };
  try {
    const link = linkNamespaceToHost(lab, 'ff');
    const server = await testServer({ host: link.hostIp, dev: true, ...config });
    opened.push(server);
    const [firefox, chromium] = await Promise.all([
      launchFirefox({ netns: link.ns, relayIp: link.nsIp, secureHosts: [link.hostIp] }),
      launchChromium([`--unsafely-treat-insecure-origin-as-secure=${server.url}`]),
    ]);
    opened.push(firefox, chromium);
    return { link, server, firefox, chromium, close };
  } catch (err) {
    await close();
    throw err;
  }
}
