/** Running Dari and Chromium inside lab namespaces. */
import { execFileSync, type ChildProcess } from 'node:child_process';
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
  /** The `ip netns exec … dari serve` process (stop it with SIGTERM to restart the server). */
  child: ChildProcess;
}

/** How the lab's `dari serve` listens: HTTP on 7880 (default), or HTTPS on another port. */
export interface LabServeOptions {
  /** HTTP(S) port; default 7880. */
  port?: number;
  /** Certificate and key files: HTTPS and WSS (see {@link labCertificate}). */
  tls?: { cert: string; key: string };
}

/**
 * Starts `dari serve` in the server namespace on 203.0.113.10 (dev mode on a non-loopback
 * address, so `--dev`), with the RFC 5780 second address, and waits for its ready line.
 * @param extra more CLI arguments, e.g. `--set sfu.rooms.r=sfu`
 */
export async function startDari(lab: Lab, server: Host, extra: string[] = [], options: LabServeOptions = {}): Promise<LabServer> {
  const port = options.port ?? HTTP_PORT;
  const child = lab.spawn(server.ns, process.execPath, [
    DARI_BIN, 'serve', '--host', SERVER_IP, '--port', String(port), '--dev',
    ...(options.tls ? ['--tls-cert', options.tls.cert, '--tls-key', options.tls.key] : []),
    '--set', `turn.alternateIp=${SERVER_ALT_IP}`, '--log-level', 'info', '--log-format', 'json', ...extra,
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
  return { url: options.tls ? `https://${SERVER_IP}${port === 443 ? '' : `:${port}`}` : `http://${SERVER_IP}:${port}`, log, child };
}

/** A self-signed certificate for 203.0.113.10 (openssl), in a fresh temporary directory. */
export function labCertificate(): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), 'dari-lab-tls-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', `/CN=${SERVER_IP}`, '-addext', `subjectAltName=IP:${SERVER_IP}`, '-keyout', key, '-out', cert], { stdio: 'ignore' });
  return { cert, key };
}

/** A dev-key token, minted by the CLI (no server round trip). */
export function labToken(room: string, identity: string): string {
  return execFileSync(process.execPath, [DARI_BIN, 'token', '--room', room, '--identity', identity], { encoding: 'utf8' }).trim();
}

/**
 * Launches Chromium inside a host's namespace (through a wrapper that runs
 * `ip netns exec NS chromium`), treating the lab's plain-HTTP origin as secure so
 * getUserMedia works there.
 * @param extraArgs e.g. `--ignore-certificate-errors` for the lab's self-signed HTTPS
 */
export async function chromiumIn(host: Host, extraArgs: string[] = []): Promise<Browser> {
  const dir = mkdtempSync(join(tmpdir(), 'dari-lab-chromium-'));
  const wrapper = join(dir, 'chromium');
  writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${host.ns} ${CHROMIUM} "$@"\n`);
  chmodSync(wrapper, 0o755);
  return launchChromium([`--unsafely-treat-insecure-origin-as-secure=${ORIGIN}`, ...extraArgs], wrapper);
}
