/**
 * Janus 1.1.2 (Debian's `janus`) with its Streaming plugin, the anchor of bench/ingest: a
 * generated config folder in a temp directory that loads only the Streaming plugin and the
 * WebSocket transport (bound to 127.0.0.1), no STUN/TURN, IPv6 off; `rtsp` mountpoints are
 * created and destroyed over the WebSocket API (https://janus.conf.meetecho.com/docs/streaming.html),
 * with the session client of bench/sfu/janus-bot.mjs.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { freePort, janusConfig, sleep } from '../sfu/servers.mjs';
import { JanusSession } from '../sfu/janus-bot.mjs';


/** Starts Janus; resolves once its WebSocket transport listens (bounded). */
export async function startJanusStreaming() {
  const wsPort = await freePort();
  const dir = janusConfig({ wsPort, rtpPorts: '30000-34999', plugin: 'streaming', pluginConfig: 'general: {\n\trtp_port_range = "35000-39999"\n}\n' });
  const child = spawn('janus', ['--config', join(dir, 'janus.jcfg'), '--configs-folder', dir, '--disable-colors'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (d) => (out = (out + d).slice(-6000));
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await Promise.race([new Promise((r) => child.once('exit', r)), sleep(4000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', () => child.kill('SIGKILL'));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`janus exited (${child.exitCode}):\n${out}`);
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: wsPort }, () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`janus not listening after 20 s:\n${out}`);
    await sleep(100);
  }
  const session = await JanusSession.open(`ws://127.0.0.1:${wsPort}`);
  const admin = await session.attach('janus.plugin.streaming');
  return {
    pid: child.pid,
    tail: () => out.split('\n').slice(-15).join('\n'),
    session,
    /**
     * Creates an `rtsp` mountpoint `id` pulling `url` (Janus connects to the camera at once,
     * rtsp_failcheck); `videobufferkf` keeps the last keyframe for new viewers, as Dari does.
     */
    async createRtsp(id, url, { audio = true } = {}) {
      await admin.message({ request: 'create', type: 'rtsp', id, description: `bench ${id}`, url, audio, video: true, videobufferkf: true, rtsp_failcheck: true, permanent: false });
    },
    async destroy(id) {
      await admin.message({ request: 'destroy', id, permanent: false }).catch(() => undefined);
    },
    /** Watches mountpoint `id`: `answer(offerSdp)` returns the viewer's answer. Resolves with the handle (detach when done). */
    async watch(id, answer) {
      const h = await session.attach('janus.plugin.streaming');
      const r = await h.message({ request: 'watch', id }, undefined, 15_000);
      if (!r.jsep) throw new Error(`Janus watch ${id}: no offer (${JSON.stringify(r.plugindata?.data)})`);
      const sdp = await answer(r.jsep.sdp);
      await h.message({ request: 'start' }, { type: 'answer', sdp }, 15_000);
      return h;
    },
    async detach(h) {
      await session.request({ janus: 'detach', handle_id: h.id }, 3000).catch(() => undefined);
    },
    async stop() {
      await session.close();
      await stop();
    },
  };
}
