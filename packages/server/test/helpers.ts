/** Test helpers: a real server on an ephemeral loopback port, and real WebSocket clients. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { launchChromium } from '@dari/testkit';
import { once } from 'node:events';
import WebSocket from 'ws';
import type { ServerMessage } from '@dari/protocol';
import { startServer, type RunningServer } from '../src/serve.js';
import { resolveConfig, validateConfig } from '../src/config.js';
import { createLogger } from '../src/logger.js';
import { mintToken, DEV_API_KEY, DEV_API_SECRET } from '../src/tokens.js';

export async function testServer(raw: Record<string, unknown> = {}): Promise<RunningServer> {
  const turn = { port: 0, ...(raw['turn'] as object | undefined) };
  return startServer(resolveConfig(validateConfig({ port: 0, ...raw, turn })), createLogger('silent'));
}

export function devToken(room: string, identity: string, extra: Partial<Parameters<typeof mintToken>[0]> = {}): Promise<string> {
  return mintToken({ apiKey: DEV_API_KEY, apiSecret: DEV_API_SECRET, room, identity, ...extra });
}

/** A signaling client that records every frame and lets a test wait for one. */
export class Client {
  readonly messages: ServerMessage[] = [];
  private waiters: { pred: (m: ServerMessage) => boolean; resolve: (m: ServerMessage) => void }[] = [];
  closeCode: number | null = null;
  readonly closed: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(String(data)) as ServerMessage;
      this.messages.push(m);
      this.waiters = this.waiters.filter((w) => (w.pred(m) ? (w.resolve(m), false) : true));
    });
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve((this.closeCode = code))));
  }

  static async open(url: string): Promise<Client> {
    const ws = new WebSocket(url);
    await once(ws, 'open');
    return new Client(ws);
  }

  /** Opens a connection and joins; resolves with the `joined` message. */
  static async join(server: RunningServer, room: string, identity: string, extra: Record<string, unknown> = {}): Promise<{ client: Client; joined: Extract<ServerMessage, { type: 'joined' }> }> {
    const client = await Client.open(server.wsUrl);
    client.send({ type: 'join', v: 1, token: await devToken(room, identity), ...extra });
    const joined = await client.next((m) => m.type === 'joined' || m.type === 'error');
    if (joined.type !== 'joined') throw new Error(`join failed: ${JSON.stringify(joined)}`);
    return { client, joined };
  }

  send(msg: unknown): void {
    this.ws.send(typeof msg === 'string' ? msg : JSON.stringify(msg));
  }

  /** Resolves with the first frame (already received or future) matching `pred`, in order. */
  next(pred: (m: ServerMessage) => boolean, timeoutMs = 5000): Promise<ServerMessage> {
    const i = this.messages.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.messages.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`timed out waiting; got ${JSON.stringify(this.messages.map((m) => m.type))}`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(t);
          this.messages.splice(this.messages.indexOf(m), 1);
          resolve(m);
        },
      });
    });
  }

  error(code: string): Promise<ServerMessage> {
    return this.next((m) => m.type === 'error' && m.code === code);
  }

  close(): void {
    this.ws.close();
  }
}

/** A 16-bit mono WAV of a continuous tone (default 440 Hz) at about -12 dBFS, for Chromium's fake microphone. */
export function toneWav(seconds: number, frequencyHz = 440): Buffer {
  const rate = 48000;
  const n = rate * seconds;
  const buf = Buffer.alloc(44 + n * 2);
  buf.write('RIFF', 0);
  buf.writeUInt32LE(36 + n * 2, 4);
  buf.write('WAVEfmt ', 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36);
  buf.writeUInt32LE(n * 2, 40);
  for (let i = 0; i < n; i++) buf.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * frequencyHz * i) / rate)), 44 + i * 2);
  return buf;
}

/**
 * Chromium whose fake microphone plays a continuous tone (`toneWav`), for active-speaker tests.
 * @param seconds length of the tone file (Chromium loops it)
 * @returns the browser, and `close()` that closes it and removes the temporary file
 */
export async function launchTalkerChromium(seconds = 10): Promise<{ browser: Browser; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'dari-tone-'));
  const wav = join(dir, 'tone.wav');
  writeFileSync(wav, toneWav(seconds));
  const browser = await launchChromium([`--use-file-for-fake-audio-capture=${wav}`]);
  return {
    browser,
    close: async () => {
      await browser.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
