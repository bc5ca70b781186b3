/**
 * The media of bench/mcu, all of it GStreamer or ffmpeg processes (so none of it runs in the
 * server's processes):
 *
 * - the **clip**: a 640×360, 15 frames/s VP8 + Opus WebM made once by ffmpeg (testsrc2's moving
 *   pattern, a 440 Hz tone), with a **frame counter** drawn into every frame: two rows of 12
 *   blocks in the middle of the picture, row A the frame number's 12 bits (white = 1, bit 0 on
 *   the left), row B their complement (a read is kept only when B = ~A). A keyframe every 2 s.
 * - the **senders**: `gst-launch-1.0` playing the clip in real time (`sync=true`) as RTP (VP8 PT 96,
 *   Opus PT 111) to loopback ports, with no encoder running (the clip is encoded ahead of time).
 *   A sender can copy its video RTP to a second port (the *tap*: send time of every frame).
 * - the **reader**: `gst-launch-1.0` decoding a VP8 RTP stream to GRAY8 frames on its stdout, and
 *   {@link readCounter} finding the counter in a tile of the decoded frame.
 * - the **client decoder**: `gst-launch-1.0` decoding k VP8 RTP streams (a client's video decode
 *   work: jitter buffer, depayloader, vp8dec), its CPU read from /proc.
 */
import { spawn, execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const WIDTH = 640;
export const HEIGHT = 360;
export const FPS = 15;
/** RTP timestamp step between two frames at 15 frames/s (90 kHz clock). */
export const TS_PER_FRAME = 90000 / FPS;
const BITS = 12;
const BLOCK = { x0: 32, w: 48, rowA: 120, rowB: 190, h: 50 };
const CLIP_SECONDS = 150;
const CLIP_VERSION = 1;

/** The clip (made once, kept in the temp dir): its path. Takes ~20-60 s the first time. */
export function ensureClip() {
  const path = join(tmpdir(), `dari-bench-mcu-clip-v${CLIP_VERSION}.webm`);
  if (existsSync(path)) return path;
  const boxes = [`drawbox=x=${BLOCK.x0 - 8}:y=${BLOCK.rowA - 8}:w=${BITS * BLOCK.w + 16}:h=${BLOCK.rowB + BLOCK.h - BLOCK.rowA + 16}:color=black:t=fill`];
  for (let k = 0; k < BITS; k++) {
    const x = BLOCK.x0 + k * BLOCK.w;
    const bit = `mod(floor(n/${2 ** k})\\,2)`;
    boxes.push(`drawbox=x=${x}:y=${BLOCK.rowA}:w=${BLOCK.w}:h=${BLOCK.h}:color=white:t=fill:enable='eq(${bit}\\,1)'`);
    boxes.push(`drawbox=x=${x}:y=${BLOCK.rowB}:w=${BLOCK.w}:h=${BLOCK.h}:color=white:t=fill:enable='eq(${bit}\\,0)'`);
  }
  const part = `${path}.part.webm`;
  execFileSync('ffmpeg', [
    '-v', 'error', '-y',
    '-f', 'lavfi', '-i', `testsrc2=size=${WIDTH}x${HEIGHT}:rate=${FPS},${boxes.join(',')}`,
    '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', String(CLIP_SECONDS),
    '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', '600k', '-g', String(2 * FPS), '-keyint_min', String(2 * FPS),
    '-auto-alt-ref', '0', '-lag-in-frames', '0',
    '-c:a', 'libopus', '-b:a', '32k', '-ac', '1', '-frame_duration', '20',
    part,
  ], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
  renameSync(part, path);
  return path;
}

/** Tracks the processes we spawn, so they all die with us. */
const live = new Set();
export function killMedia() {
  for (const c of live) c.kill('SIGKILL');
  live.clear();
}
process.on('exit', killMedia);

function gst(args, { stdout = 'ignore', cpu } = {}) {
  const [file, argv] = cpu != null ? ['taskset', ['-c', String(cpu), 'gst-launch-1.0', ...args]] : ['gst-launch-1.0', args];
  const child = spawn(file, argv, { stdio: ['ignore', stdout, 'pipe'] });
  let err = '';
  child.stderr.on('data', (d) => (err = (err + d).slice(-2000)));
  live.add(child);
  child.on('exit', () => live.delete(child));
  return { child, pid: child.pid, stderr: () => err, stop: () => child.kill('SIGKILL') };
}

/**
 * A participant's sender: the clip as RTP to 127.0.0.1 `videoPort`/`audioPort`, in real time
 * (argv array, no shell). `tapPort`: a copy of the video RTP (the send time of every frame).
 */
export function startSender({ clip, videoPort, audioPort, tapPort, cpu }) {
  const clients = [`127.0.0.1:${videoPort}`, ...(tapPort ? [`127.0.0.1:${tapPort}`] : [])].join(',');
  return gst(['-q', 'filesrc', `location=${clip}`, '!', 'matroskademux', 'name=d',
    'd.video_0', '!', 'queue', '!', 'rtpvp8pay', 'pt=96', 'mtu=1200', 'picture-id-mode=15-bit', '!', 'multiudpsink', `clients=${clients}`, 'sync=true',
    'd.audio_0', '!', 'queue', '!', 'rtpopuspay', 'pt=111', '!', 'udpsink', 'host=127.0.0.1', `port=${audioPort}`, 'sync=true'], { cpu });
}

const VP8_RTP_CAPS = 'application/x-rtp,media=video,encoding-name=VP8,clock-rate=90000,payload=96';

/** A free UDP port on 127.0.0.1 (bound and released: GStreamer binds it next). */
export function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/**
 * A client's video decoding: one branch per port (rtpvp8depay, vp8dec, fakesink; no jitter
 * buffer: loopback keeps order, and rtpjitterbuffer passed nothing of what werift forwards), in one
 * process whose CPU is the client's decode CPU.
 */
export function startDecoder({ ports, cpu }) {
  const args = ['-q'];
  for (const port of ports) {
    args.push('udpsrc', 'address=127.0.0.1', `port=${port}`, `caps=${VP8_RTP_CAPS}`, '!',
      'rtpvp8depay', '!', 'vp8dec', 'threads=1', '!', 'fakesink', 'sync=false');
  }
  return gst(args, { cpu });
}

/**
 * The reader: decodes the VP8 RTP stream arriving on `port` (no jitter buffer: loopback keeps
 * order) and calls `onFrame(gray, tMs)` for every decoded 640×360 frame, `tMs` when it reached us
 * (performance.now()).
 */
export function startReader({ port, cpu, onFrame }) {
  const r = gst(['-q', 'udpsrc', 'address=127.0.0.1', `port=${port}`, `caps=${VP8_RTP_CAPS}`, '!', 'rtpvp8depay', '!', 'vp8dec', 'threads=1', '!',
    'videoconvert', '!', `video/x-raw,format=GRAY8,width=${WIDTH},height=${HEIGHT}`, '!', 'fdsink', 'fd=1', 'sync=false'], { stdout: 'pipe', cpu });
  const size = WIDTH * HEIGHT;
  let pending = [];
  let have = 0;
  r.child.stdout.on('data', (chunk) => {
    const t = performance.now();
    pending.push(chunk);
    have += chunk.length;
    while (have >= size) {
      const all = Buffer.concat(pending);
      onFrame(all.subarray(0, size), t);
      pending = [all.subarray(size)];
      have -= size;
    }
  });
  return r;
}

/**
 * The frame counter in a tile of a decoded frame, or null when unreadable.
 * @param gray GRAY8 frame, WIDTH×HEIGHT
 * @param tile [x, y, w, h] where the participant's picture was scaled (letterboxed) into
 */
export function readCounter(gray, [tx, ty, tw, th]) {
  const s = Math.min(tw / WIDTH, th / HEIGHT);
  const ox = tx + (tw - WIDTH * s) / 2;
  const oy = ty + (th - HEIGHT * s) / 2;
  const at = (x, y) => {
    const px = Math.round(ox + x * s);
    const py = Math.round(oy + y * s);
    // The mean of a 3×3 patch around the block's centre.
    let sum = 0;
    for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) sum += gray[(py + dy) * WIDTH + px + dx];
    return sum / 9 > 128 ? 1 : 0;
  };
  let a = 0;
  let b = 0;
  for (let k = 0; k < BITS; k++) {
    const cx = BLOCK.x0 + k * BLOCK.w + BLOCK.w / 2;
    a |= at(cx, BLOCK.rowA + BLOCK.h / 2) << k;
    b |= at(cx, BLOCK.rowB + BLOCK.h / 2) << k;
  }
  return (a ^ b) === (1 << BITS) - 1 ? a : null;
}

/**
 * The composite's tiles (worker/composite_layout.py: grid, then inset by the active speaker's
 * border): where participant i's picture is scaled into, [x, y, w, h].
 */
export function compositeTile(i, n, width = WIDTH, height = HEIGHT) {
  const cols = Math.ceil(Math.sqrt(n));
  const rows = Math.ceil(n / cols);
  const tw = Math.floor(width / cols) & ~1;
  const th = Math.floor(height / rows) & ~1;
  const oy = Math.floor((height - rows * th) / 2);
  const r = Math.floor(i / cols);
  const c = i % cols;
  const inRow = Math.min(cols, n - r * cols);
  const ox = Math.floor((width - inRow * tw) / 2);
  const b = Math.max(2, Math.floor(height / 120));
  return [ox + c * tw + b, oy + r * th + b, Math.max(2, (tw - 2 * b) & ~1), Math.max(2, (th - 2 * b) & ~1)];
}

/**
 * Send times of the probe's frames from its tap (first packet of each RTP timestamp), so that
 * frame counter c ↔ RTP timestamp ts0 + c × TS_PER_FRAME.
 */
export async function startTap() {
  const sock = createSocket('udp4');
  const sent = new Map(); // counter -> performance.now()
  let ts0 = null;
  sock.on('message', (m) => {
    if (m.length < 12) return;
    const ts = m.readUInt32BE(4);
    ts0 ??= ts;
    const c = Math.round(((ts - ts0) >>> 0) / TS_PER_FRAME);
    if (!sent.has(c)) sent.set(c, performance.now());
  });
  await new Promise((r) => sock.bind(0, '127.0.0.1', r));
  return { port: sock.address().port, sent, close: () => sock.close() };
}

/** GStreamer's version line ("GStreamer 1.22.0"). */
export function gstVersion() {
  try {
    return execFileSync('gst-launch-1.0', ['--version'], { encoding: 'utf8' }).split('\n')[0].replace(/^gst-launch-1.0 version /, 'GStreamer ');
  } catch {
    return null;
  }
}
