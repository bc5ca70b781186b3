/**
 * Test helpers of @dari/media: gst-launch-1.0 senders (solid colours, sine tones) as the RTP
 * sources a browser would be, and ffprobe/ffmpeg to look inside the files the recorder writes.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** ARGB colours of the senders and the RGB we look for in decoded frames. */
export const COLOURS = [
  { argb: 0xffff0000, rgb: [255, 0, 0] },
  { argb: 0xff00ff00, rgb: [0, 255, 0] },
  { argb: 0xff0000ff, rgb: [0, 0, 255] },
] as const;
/** Sine tones of the senders, Hz (no one a harmonic of another). */
export const TONES = [600, 1100, 1900] as const;

/** Running gst-launch-1.0 processes, killed by `stopSenders()`. */
const senders = new Set<ChildProcess>();

/**
 * A participant as GStreamer plays it: a solid-colour VP8 video and/or a sine-tone Opus audio,
 * RTP to loopback ports (payload types 96 and 111). Built from an argv array (no shell).
 */
export function sender(opts: { videoPort?: number; audioPort?: number; argb?: number; freq?: number }): ChildProcess {
  const args = ['-q'];
  if (opts.videoPort !== undefined) {
    args.push('videotestsrc', 'is-live=true', 'pattern=solid-color', `foreground-color=${opts.argb ?? 0xffffffff}`, '!',
      'video/x-raw,width=320,height=240,framerate=15/1', '!', 'vp8enc', 'deadline=1', 'threads=1', 'keyframe-max-dist=15', '!',
      'rtpvp8pay', 'pt=96', 'picture-id-mode=15-bit', '!', 'udpsink', 'host=127.0.0.1', `port=${opts.videoPort}`, 'sync=false');
  }
  if (opts.audioPort !== undefined) {
    args.push('audiotestsrc', 'is-live=true', 'wave=sine', `freq=${opts.freq ?? 440}`, 'volume=0.3', '!', 'audioconvert', '!',
      'opusenc', 'frame-size=20', '!', 'rtpopuspay', 'pt=111', '!', 'udpsink', 'host=127.0.0.1', `port=${opts.audioPort}`, 'sync=false');
  }
  const child = spawn('gst-launch-1.0', args, { stdio: 'ignore' });
  senders.add(child);
  child.on('exit', () => senders.delete(child));
  return child;
}

export function stopSender(child: ChildProcess): void {
  child.kill('SIGKILL');
  senders.delete(child);
}

export function stopSenders(): void {
  for (const child of senders) child.kill('SIGKILL');
  senders.clear();
}

export interface Probe {
  format: { duration?: string; size?: string; format_name?: string };
  streams: { codec_type: string; codec_name: string; width?: number; height?: number }[];
}

/** ffprobe's view of a file (throws when ffprobe cannot read it). */
export async function ffprobe(path: string): Promise<Probe> {
  const { stdout } = await exec('ffprobe', ['-v', 'error', '-show_format', '-show_streams', '-of', 'json', path]);
  return JSON.parse(stdout) as Probe;
}

/** One decoded video frame at `atS` seconds, as RGB24. */
export async function decodeFrame(path: string, atS: number): Promise<{ width: number; height: number; rgb: Buffer }> {
  const probe = await ffprobe(path);
  const video = probe.streams.find((s) => s.codec_type === 'video');
  if (!video?.width || !video.height) throw new Error(`${path} has no video stream`);
  const { stdout } = await exec('ffmpeg', ['-v', 'error', '-ss', String(atS), '-i', path, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], {
    encoding: 'buffer',
    maxBuffer: 64 << 20,
  });
  return { width: video.width, height: video.height, rgb: stdout };
}

/** The average colour of a rectangle of a decoded frame. */
export function averageRgb(frame: { width: number; rgb: Buffer }, x: number, y: number, w: number, h: number): [number, number, number] {
  const sum = [0, 0, 0];
  for (let row = y; row < y + h; row++) {
    for (let col = x; col < x + w; col++) {
      const i = (row * frame.width + col) * 3;
      sum[0]! += frame.rgb[i]!;
      sum[1]! += frame.rgb[i + 1]!;
      sum[2]! += frame.rgb[i + 2]!;
    }
  }
  const n = w * h;
  return [sum[0]! / n, sum[1]! / n, sum[2]! / n];
}

/** Largest per-channel difference between two colours. */
export function colourDistance(a: readonly number[], b: readonly number[]): number {
  return Math.max(...a.map((v, i) => Math.abs(v - (b[i] ?? 0))));
}

/** The audio of a file as mono 48 kHz samples (from `fromS`, for `durationS`). */
export async function decodePcm(path: string, fromS = 0, durationS = 2): Promise<Float32Array> {
  const { stdout } = await exec('ffmpeg', ['-v', 'error', '-ss', String(fromS), '-t', String(durationS), '-i', path, '-vn', '-ac', '1', '-ar', '48000', '-f', 's16le', '-'], {
    encoding: 'buffer',
    maxBuffer: 64 << 20,
  });
  const out = new Float32Array(stdout.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = stdout.readInt16LE(i * 2) / 32768;
  return out;
}

/**
 * Share of the signal's energy at `freq` (Goertzel over the whole buffer, ±1 bin), 0…1.
 * A pure tone gives about 1; a tone absent from the mix gives about 0.
 */
export function toneShare(samples: Float32Array, freq: number, rate = 48000): number {
  const n = samples.length;
  if (n === 0) return 0;
  let total = 0;
  for (const s of samples) total += s * s;
  if (total === 0) return 0;
  let power = 0;
  for (const f of [freq - rate / n, freq, freq + rate / n]) {
    const k = (2 * Math.PI * f) / rate;
    const coeff = 2 * Math.cos(k);
    let s1 = 0;
    let s2 = 0;
    for (const x of samples) {
      const s0 = x + coeff * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    power += (s1 * s1 + s2 * s2 - coeff * s1 * s2) * (2 / n);
  }
  return Math.min(1, power / total);
}

/** Resolves when `emitter` emits `event` (first time), rejects after `timeoutMs`. */
export function nextEvent<T extends unknown[]>(on: (listener: (...args: T) => void) => void, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    on((...args: T) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
