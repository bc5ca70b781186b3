/** Running Dari and Chromium inside lab namespaces. */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { CHROMIUM, launchChromium } from '@dari/testkit';
import type { Lab } from './netns.js';
import { HTTP_PORT, SERVER_ALT_IP, SERVER_IP, type Host } from './topology.js';

/** The dari CLI of this checkout. */
export const DARI_BIN = fileURLToPath(new URL('../../../packages/server/bin/dari.js', import.meta.url));
export const ORIGIN = `http://${SERVER_IP}:${HTTP_PORT}`;

export interface LabServer {
  url: string;
  /** Log lines so far. */
  log: string[];
}

/**
 * Starts `dari serve` in the server namespace on 203.0.113.10 (dev mode on a non-loopback
 * address, so `--dev`), with the RFC 5780 second address, and waits for its ready line.
 */
export async function startDari(lab: Lab, server: Host, extra: string[] = []): Promise<LabServer> {
  const child = lab.spawn(server.ns, process.execPath, [
    DARI_BIN, 'serve', '--host', SERVER_IP, '--port', String(HTTP_PORT), '--dev',
    '--set', `turn.alternateIp=${SERVER_ALT_IP}`, '--log-level', 'info', ...extra,
  ]);
  const log: string[] = [];
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`dari serve did not start in the lab: ${stderr}`)), 20_000);
    child.once('exit', (code) => reject(new Error(`dari serve exited ${code}: ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      log.push(line);
      if (line.includes('"ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return { url: ORIGIN, log };
}

/** A dev-key token, minted by the CLI (no server round trip). */
export function labToken(room: string, identity: string): string {
  return execFileSync(process.execPath, [DARI_BIN, 'token', '--room', room, '--identity', identity], { encoding: 'utf8' }).trim();
}

/**
 * Launches Chromium inside a host's namespace (through a wrapper that runs
 * `ip netns exec NS chromium`), treating the lab's plain-HTTP origin as secure so
 * getUserMedia works there.
 */
export async function chromiumIn(host: Host): Promise<Browser> {
  const dir = mkdtempSync(join(tmpdir(), 'dari-lab-chromium-'));
  const wrapper = join(dir, 'chromium');
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${host.ns} ${CHROMIUM} "$@"\n`);
  chmodSync(wrapper, 0o755);
  return launchChromium([`--unsafely-treat-insecure-origin-as-secure=${ORIGIN}`], wrapper);
}
