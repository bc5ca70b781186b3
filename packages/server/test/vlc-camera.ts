/**
 * VLC as an RTSP camera for the ingest tests: a clip made by ffmpeg (H.264 constrained baseline,
 * a keyframe every second, and AAC) looped by `cvlc` with VLC's RTP stream output and its RTSP
 * server (`#rtp{sdp=rtsp://…}`: RTP over UDP after RTSP SETUP). VLC refuses to run as root, so as
 * root (a clean CI machine) it runs as the unprivileged user `nobody` through runuser(1).
 */
import { freeTcpPort as freePort } from '@dari/testkit';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`. */
async function listening(port: number, timeoutMs: number, exited: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const why = exited();
    if (why) throw new Error(why);
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1', () => (c.destroy(), resolve(true)));
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`VLC's RTSP server is not listening on port ${port} after ${timeoutMs} ms`);
}

export interface VlcCamera {
  /** rtsp://127.0.0.1:<port>/cam */
  url: string;
  stop(): Promise<void>;
}

/**
 * Makes a 4 s clip (320x240 at 30 fps, H.264 constrained baseline with a keyframe every 30
 * frames, AAC 48 kHz) and serves it in a loop from VLC's RTSP server. Resolves once VLC listens.
 * @throws when ffmpeg or cvlc fails (their stderr in the message)
 */
export async function startVlcCamera(): Promise<VlcCamera> {
  const dir = mkdtempSync(join(tmpdir(), 'dari-vlc-'));
  chmodSync(dir, 0o755); // readable by the unprivileged user VLC runs as
  const clip = join(dir, 'cam.mp4');
  await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=30', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
    '-t', '4', '-c:v', 'libx264', '-profile:v', 'baseline', '-preset', 'ultrafast', '-g', '30', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-b:a', '64k', clip]);
  chmodSync(clip, 0o644);
  const port = await freePort();
  const url = `rtsp://127.0.0.1:${port}/cam`;
  // `timeout` bounds VLC's life should the test process die without stopping it.
  const vlc = ['timeout', '300', 'cvlc', '-I', 'dummy', '--loop', clip, '--sout', `#rtp{sdp=${url}}`, '--sout-keep'];
  const root = process.getuid?.() === 0;
  const p: ChildProcess = spawn(root ? 'runuser' : vlc[0]!, root ? ['-u', 'nobody', '--', 'env', `HOME=${dir}`, ...vlc] : vlc.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  p.stderr!.on('data', (d: Buffer) => (stderr = (stderr + String(d)).slice(-2000)));
  let exit: string | undefined;
  const exited = new Promise<void>((resolve) => p.once('close', () => resolve()));
  p.once('error', (err) => (exit = `cvlc: ${err.message}`));
  p.once('exit', (code) => (exit = `cvlc exited (${code}): ${stderr}`));
  const stop = async (): Promise<void> => {
    if (p.exitCode === null && p.signalCode === null) {
      p.kill('SIGTERM'); // runuser and timeout pass it on to VLC
      await Promise.race([exited, new Promise((r) => setTimeout(r, 3000))]);
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await listening(port, 10_000, () => exit);
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, stop };
}
