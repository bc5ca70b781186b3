/** Test helpers for the media plane (MCU, recording): fake-camera files and polling a condition. */
import { writeFileSync } from 'node:fs';

/** A one-frame 4:2:0 y4m of one colour (Chromium's fake camera loops it). BT.601 limited range. */
export function solidY4m(path: string, rgb: [number, number, number], width = 320, height = 240): void {
  const [r, g, b] = rgb.map((c) => c / 255) as [number, number, number];
  const y = Math.round(16 + 65.481 * r + 128.553 * g + 24.966 * b);
  const u = Math.round(128 - 37.797 * r - 74.203 * g + 112 * b);
  const v = Math.round(128 + 112 * r - 93.786 * g - 18.214 * b);
  const frame = Buffer.concat([Buffer.from('FRAME\n'), Buffer.alloc(width * height, y), Buffer.alloc((width * height) / 4, u), Buffer.alloc((width * height) / 4, v)]);
  writeFileSync(path, Buffer.concat([Buffer.from(`YUV4MPEG2 W${width} H${height} F15:1 Ip A1:1 C420jpeg\n`), frame]));
}

/** Polls `get` every 100 ms until `ok` holds (throws after `timeoutMs` with the last value). */
export async function until<T>(what: string, get: () => Promise<T> | T, ok: (v: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

