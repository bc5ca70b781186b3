/**
 * RTSP ingest: each camera is a participant of kind ingress (`ingress.type: rtsp`) in its room,
 * publishing video (H.264: passed through when browsers decode its profile, else transcoded to
 * constrained baseline; the last keyframe kept for late joiners) and audio (Opus and G.711 PCMU/PCMA:
 * passed through, the SFU forwards them and browsers decode them; AAC transcoded to Opus) through
 * the SFU's local RTP sockets. The audio publication is made once the worker has seen the
 * camera's audio (its codec is the camera's when passed through); a camera without audio has none. A GStreamer worker (worker/rtsp_pull.py, Debian's
 * python3-gst) pulls the camera and sends RTP there; when it fails or stalls it is started again
 * with backoff (the participant's state `reconnecting`), and after too many failures in a row the
 * ingress ends `failed` with the reason. Credentials in a camera URL never reach a log or the API.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { H264_CONSTRAINED_BASELINE, OPUS, PCMA, PCMU, SfuApiError, type AudioCodecHooks, type LocalRtpPublication, type SfuManager } from '@dari/sfu';
import type { ParticipantInfo } from '@dari/protocol';
import type { Logger } from '../logger.js';
import type { SignalingAdapter } from '../signaling/ws-adapter.js';
import { DEFAULT_RETRY, IngressError, nextAttempt, parseCameraUrl, scrub, type RetryOptions } from './ingress-policy.js';

/** The pull worker (shipped with the package, run by Debian's /usr/bin/python3 with python3-gst). */
export const RTSP_WORKER = fileURLToPath(new URL('../../../worker/rtsp_pull.py', import.meta.url));

export type IngressState = NonNullable<ParticipantInfo['ingress']>['state'];

/** An ingress as the API shows it (the URL without credentials). */
export interface IngressInfo {
  id: string;
  room: string;
  identity: string;
  name: string;
  url: string;
  state: IngressState;
  reason?: string;
  /** What the camera sends and whether it is passed through, e.g. `{video: 'H264 passthrough', audio: 'MPEG4-GENERIC transcoded'}` (once seen). */
  media: { video?: string; audio?: string };
}

export interface IngressOptions {
  signaling: SignalingAdapter;
  sfu: SfuManager;
  logger: Logger;
  /** Python with GStreamer's bindings. Default /usr/bin/python3. */
  python?: string;
  retry?: Partial<RetryOptions>;
  /** No media for this long: the pull is restarted, ms. Default 3000. */
  stallMs?: number;
  /** A camera left `room` (removed): e.g. the room's egresses stop if it is empty now. */
  onLeft?: (room: string) => void;
}

/** The audio codecs an ingress publishes, by the worker's name for them (rtsp_pull.py AUDIO_OUT). */
const AUDIO_CODECS: Readonly<Record<string, AudioCodecHooks>> = Object.freeze({ OPUS, PCMU, PCMA });

interface Ingress {
  info: IngressInfo;
  url: string;
  video?: LocalRtpPublication;
  audio?: LocalRtpPublication & { codec: string };
  /** The audio publication is being made. */
  audioPending: boolean;
  worker: ChildProcess | null;
  failures: number;
  sawMedia: boolean;
  lastError: string;
  timer: NodeJS.Timeout | null;
  removed: boolean;
}

export class IngressManager {
  private readonly ingresses = new Map<string, Ingress>();
  private readonly log: Logger;
  private readonly retry: RetryOptions;
  /** A pull worker started ahead of the next camera (see takeWorker), while any camera exists. */
  private spare: ChildProcess | null = null;

  constructor(private readonly opts: IngressOptions) {
    this.log = opts.logger.child({ plane: 'ingress' });
    this.retry = { ...DEFAULT_RETRY, ...opts.retry };
  }

  list(): IngressInfo[] {
    return [...this.ingresses.values()].map((i) => ({ ...i.info, media: { ...i.info.media } }));
  }

  /**
   * Adds a camera to `room` as `identity`; it connects in the background (state `connecting`).
   * @throws IngressError 400 (url, identity), 409 (identity in the room)
   */
  async add(req: { room: string; url: string; identity: string; name?: string | undefined }): Promise<IngressInfo> {
    const { url, redacted } = parseCameraUrl(req.url);
    const name = req.name ?? req.identity;
    const core = this.opts.signaling.core;
    const added = core.addIngressParticipant(req.room, { identity: req.identity, name, ingress: { type: 'rtsp', state: 'connecting' } }, Date.now());
    if ('error' in added) throw new IngressError(409, added.error === 'room-full' ? 'ROOM_FULL' : 'IDENTITY_TAKEN', added.message);
    this.opts.signaling.run(added.actions);
    const ing: Ingress = {
      info: { id: `IN_${randomBytes(6).toString('hex')}`, room: req.room, identity: req.identity, name, url: redacted, state: 'connecting', media: {} },
      url,
      worker: null,
      failures: 0,
      sawMedia: false,
      lastError: '',
      timer: null,
      removed: false,
      audioPending: false,
    };
    try {
      this.opts.sfu.addServerParticipant(req.room, req.identity, 'ingress');
      ing.video = await this.opts.sfu.publishLocalRtp(req.room, req.identity, { kind: 'video', codec: H264_CONSTRAINED_BASELINE, keyframeCache: true, streamId: req.identity });
    } catch (err) {
      this.opts.sfu.removeServerParticipant(req.room, req.identity);
      this.opts.signaling.run(core.removeIngressParticipant(req.room, req.identity));
      if (err instanceof SfuApiError) throw new IngressError(409, 'IDENTITY_TAKEN', err.message);
      throw err;
    }
    this.announceTracks(ing);
    this.ingresses.set(ing.info.id, ing);
    this.log.info({ id: ing.info.id, room: req.room, identity: req.identity, url: redacted }, 'ingress added');
    this.start(ing);
    return { ...ing.info };
  }

  /** Removes an ingress: the pull stops, the participant leaves. @returns false when unknown */
  remove(id: string): boolean {
    const ing = this.ingresses.get(id);
    if (!ing) return false;
    this.ingresses.delete(id);
    ing.removed = true;
    if (ing.timer) clearTimeout(ing.timer);
    ing.worker?.kill('SIGTERM');
    this.opts.sfu.removeServerParticipant(ing.info.room, ing.info.identity);
    this.opts.signaling.run(this.opts.signaling.core.removeIngressParticipant(ing.info.room, ing.info.identity));
    this.opts.onLeft?.(ing.info.room);
    this.dropSpareIfIdle();
    this.log.info({ id, room: ing.info.room, identity: ing.info.identity }, 'ingress removed');
    return true;
  }

  close(): void {
    for (const id of [...this.ingresses.keys()]) this.remove(id);
    this.dropSpare();
  }

  /**
   * A pull worker for a camera: the warm spare if there is one (started ahead, Python and
   * GStreamer loaded: a camera's first frame comes 0.3-1 s sooner), else a new one; then a new
   * spare for the next camera or reconnect. Its config is written to its stdin by the caller.
   */
  private takeWorker(): ChildProcess {
    const spare = this.spare;
    this.spare = null;
    const worker = spare && spare.exitCode === null && spare.signalCode === null && spare.stdin?.writable ? spare : this.spawnWorker();
    this.spare = this.spawnWorker();
    return worker;
  }

  private spawnWorker(): ChildProcess {
    const p = spawn(this.opts.python ?? '/usr/bin/python3', [RTSP_WORKER], { stdio: ['pipe', 'pipe', 'pipe'] });
    p.stdin!.on('error', () => undefined); // EPIPE once it has exited
    const gone = () => {
      if (this.spare === p) this.spare = null;
    };
    p.once('error', gone);
    p.once('exit', gone);
    return p;
  }

  /** Ends the spare worker when no camera is left to pull (none, or only failed ones). */
  private dropSpareIfIdle(): void {
    if (![...this.ingresses.values()].some((i) => i.info.state !== 'failed')) this.dropSpare();
  }

  /** Ends the spare worker (it would only hold memory). */
  private dropSpare(): void {
    this.spare?.stdin?.end(); // it exits on the closed stdin
    this.spare = null;
  }

  private start(ing: Ingress): void {
    ing.timer = null;
    if (ing.removed) return;
    ing.sawMedia = false;
    const audio = ing.audio ? { audio_port: ing.audio.port, audio_codec: ing.audio.codec } : {};
    const cfg = JSON.stringify({ url: ing.url, video_port: ing.video!.port, ...audio, stall_ms: this.opts.stallMs ?? 3000 });
    // The config holds the camera's URL with its credentials: on the worker's stdin, never in argv
    // (anyone's `ps`).
    const worker = this.takeWorker();
    worker.stdin!.write(`${cfg}\n`);
    ing.worker = worker;
    worker.on('error', (err) => {
      ing.lastError = (err as NodeJS.ErrnoException).code === 'ENOENT' ? `${this.opts.python ?? '/usr/bin/python3'} not found: apt install python3-gst-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-bad` : err.message;
    });
    createInterface({ input: worker.stdout! }).on('line', (line) => this.onWorkerLine(ing, line));
    // stderr may repeat the URL: only its gist, scrubbed, at debug level.
    createInterface({ input: worker.stderr! }).on('line', (line) => {
      if (/ModuleNotFoundError|ValueError: Namespace/.test(line)) ing.lastError = 'GStreamer for Python is missing: apt install python3-gst-1.0';
      this.log.debug({ id: ing.info.id, line: scrub(line, ing.url).slice(0, 300) }, 'ingress worker stderr');
    });
    worker.on('close', (code) => {
      if (ing.worker !== worker) return;
      ing.worker = null;
      if (ing.removed) return;
      ing.failures = ing.sawMedia ? 1 : ing.failures + 1;
      const reason = ing.lastError || (code === 3 ? 'the camera stopped sending' : `the pull ended (exit ${code})`);
      const next = nextAttempt(ing.failures, this.retry);
      if (next === 'give-up') {
        this.setState(ing, 'failed', reason);
        this.log.warn({ id: ing.info.id, reason, attempts: ing.failures }, 'ingress failed');
        this.dropSpareIfIdle();
        return;
      }
      this.setState(ing, ing.info.state === 'connecting' ? 'connecting' : 'reconnecting', reason);
      this.log.info({ id: ing.info.id, reason, retryInMs: next.retryInMs }, 'ingress reconnecting');
      ing.timer = setTimeout(() => this.start(ing), next.retryInMs);
      ing.timer.unref();
    });
  }

  private onWorkerLine(ing: Ingress, line: string): void {
    let msg: { event?: string; kind?: string; codec?: string; mode?: string; message?: string; caps?: string };
    try {
      msg = JSON.parse(line) as typeof msg;
    } catch {
      return;
    }
    if (msg.event === 'media' && (msg.kind === 'video' || msg.kind === 'audio') && typeof msg.codec === 'string') {
      ing.info.media[msg.kind] = `${msg.codec.slice(0, 32)} ${msg.mode === 'transcoded' ? 'transcoded' : 'passthrough'}`;
    }
    if (msg.event === 'media' && msg.kind === 'video') {
      ing.sawMedia = true;
      ing.failures = 0;
      ing.lastError = '';
      this.setState(ing, 'active');
    } else if (msg.event === 'audio-codec' && typeof msg.codec === 'string') {
      void this.publishAudio(ing, msg.codec);
    } else if (msg.event === 'error' && typeof msg.message === 'string') {
      ing.lastError = scrub(msg.message, ing.url).slice(0, 200);
    } else if (msg.event === 'unsupported') {
      this.log.warn({ id: ing.info.id, kind: msg.kind, caps: msg.caps }, 'ingress: a camera stream in a codec not passed through; left out');
    }
  }

  /** The participant's tracks as signaling announces them: its camera, and its microphone once published. */
  private announceTracks(ing: Ingress): void {
    const { room, identity } = ing.info;
    const track = (p: LocalRtpPublication, source: 'camera' | 'microphone') => ({ sid: p.id.slice(0, 64), source, kind: p.kind, streamId: identity, muted: false });
    const tracks = [track(ing.video!, 'camera'), ...(ing.audio ? [track(ing.audio, 'microphone')] : [])];
    this.opts.signaling.run(this.opts.signaling.core.updateIngressParticipant(room, identity, { tracks }));
  }

  /**
   * The worker has seen the camera's audio and will send it as `codec` (OPUS, PCMU or PCMA):
   * publishes it in that codec, announces the track and tells the worker its port (stdin).
   */
  private async publishAudio(ing: Ingress, codecName: string): Promise<void> {
    const codec = Object.hasOwn(AUDIO_CODECS, codecName) ? AUDIO_CODECS[codecName] : undefined;
    if (!codec || ing.audioPending || ing.removed) return;
    if (!ing.audio) {
      ing.audioPending = true;
      try {
        const pub = await this.opts.sfu.publishLocalRtp(ing.info.room, ing.info.identity, { kind: 'audio', codec, streamId: ing.info.identity });
        if (ing.removed) {
          pub.close();
          return;
        }
        ing.audio = { ...pub, codec: codecName };
        this.announceTracks(ing);
      } catch (err) {
        this.log.warn({ id: ing.info.id, err: (err as Error).message }, 'ingress: the audio publication failed');
        return;
      } finally {
        ing.audioPending = false;
      }
    }
    ing.worker?.stdin?.write(`${JSON.stringify({ audio_port: ing.audio.port })}\n`);
  }

  private setState(ing: Ingress, state: IngressState, reason?: string): void {
    if (ing.info.state === state && ing.info.reason === reason) return;
    ing.info.state = state;
    if (reason !== undefined && state !== 'active') ing.info.reason = reason;
    else delete ing.info.reason;
    const ingress = { type: 'rtsp' as const, state, ...(ing.info.reason !== undefined ? { reason: ing.info.reason } : {}) };
    this.opts.signaling.run(this.opts.signaling.core.updateIngressParticipant(ing.info.room, ing.info.identity, { ingress }));
  }
}
