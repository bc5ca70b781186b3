/**
 * One `mcu` room: a {@link CompositeMixer} worker fed from the room's SFU by a {@link CompositeFeed},
 * whose output is published back into the room by a server-side participant (`dari-mcu-<n>`,
 * kind `mixer`): the composite video (stream id `dari-composite`) and one N−1 audio mix per
 * participant (stream id `dari-mix-<composite id>`). The room's subscription policy
 * ({@link McuRoom.policy}) gives each browser only the composite video and its own mix.
 *
 * Keyframes: a subscriber's PLI on the composite reaches a loopback socket of ours (the
 * publication's `keyframeRequestsTo`) and makes the encoder send a keyframe; the mixer's own
 * requests reach the publishers through the feed. A crashed worker is restarted by the mixer
 * (its outputs keep their ports: the publications stay), the feed subscribes the new inputs.
 *
 * Bitrate: the SFU reports the composite's subscribers' lowest REMB estimate (the publication's
 * `onSubscriberEstimate`) and the encoder follows it ({@link EncoderBitrate}: up to a higher
 * estimate, down after a falling one, clamped to [50 kbps, `mcu.maxBitrateBps`], at most one
 * change a second). Active speaker: the SFU's
 * `active-speakers` event frames the dominant speaker's tile; it stays framed through silences
 * until someone else speaks or it leaves.
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { CompositeMixer } from '@dari/media';
import { COMPOSITE_STREAM_ID, type ActiveSpeaker, type LocalRtpPublication, type SfuManager, type SubscriptionPolicy } from '@dari/sfu';
import type { Logger } from '../logger.js';
import { CompositeFeed } from '../egress/composite-feed.js';
import { isDariWorkerIdentity } from '../egress/egress-manager.js';
import { EncoderBitrate, MIN_ENCODER_BITRATE_BPS } from './encoder-bitrate.js';

/** Stream id prefix of the audio mixes (`dari-mix-<composite id>`, `dari-mix-all`); the SDK's composite-tracks.ts knows it. */
const MIX_STREAM_PREFIX = 'dari-mix-';

/** Stream id of the composite video that browsers in an `mcu` room (or in an SFU room's composite fallback) receive. */
export { COMPOSITE_STREAM_ID };

export interface McuRoomOptions {
  sfu: SfuManager;
  room: string;
  /** The mixer's identity in the room (Dari's own: `dari-mcu-<n>`). */
  identity: string;
  composite: { width: number; height: number; fps: number; maxBitrateBps: number };
  python: string;
  nameOf: (identity: string) => string | undefined;
  logger: Logger;
  /**
   * The composite fallback of an SFU room (composite-fallback.ts): only the composite video (no
   * N−1 mixes), and the room keeps its policy (SFU_ROOM_POLICY gives the composite to the
   * subscribers in the fallback). Default false (an `mcu` room).
   */
  fallback?: boolean;
  /** The encoder's first bitrate, bps (then it follows the subscribers' REMB). Default `composite.maxBitrateBps`. */
  startBitrateBps?: number | undefined;
}

interface Mix {
  publication: LocalRtpPublication;
  output: number;
}

/** {@link McuRoom.start} was overtaken by {@link McuRoom.stop}: nothing of the room is left running. */
export class McuRoomStoppedError extends Error {
  override readonly name = 'McuRoomStoppedError';
  constructor(room: string) {
    super(`mcu room ${room}: stopped while starting`);
  }
}

/** Fewest ms between two keyframes the subscribers' PLIs ask the encoder for. */
const KEYFRAME_MIN_INTERVAL_MS = 300;

export class McuRoom {
  private readonly mixes = new Map<string, Mix>();
  private readonly mixOwner = new Map<string, string>();
  private video: LocalRtpPublication | undefined;
  /** Everyone's audio, for browsers without a tile of their own (viewers: no N−1 mix of theirs). */
  private fullMix: LocalRtpPublication | undefined;
  private feed: CompositeFeed | undefined;
  private pliSocket: Socket | undefined;
  private lastKeyframe = 0;
  private syncing: Promise<void> | undefined;
  /** A change came in since the running sync started: sync again after it. */
  private syncAgain = false;
  private closed = false;
  private speaker: string | undefined;
  private estimate: number | null = null;
  readonly mixer: CompositeMixer;
  private readonly bitrate: EncoderBitrate;
  private readonly onSpeakers = (room: string, speakers: readonly ActiveSpeaker[]) => {
    if (room === this.options.room) this.activeSpeakers(speakers);
  };

  /** Browsers get the composite video and their own N−1 mix (a viewer without a tile: everyone's mix), nothing else. */
  readonly policy: SubscriptionPolicy = {
    name: 'mcu',
    subscribes: (s, p) =>
      s.participant.kind === 'browser' &&
      p.participant.id === this.options.identity &&
      (p.id === this.video?.id || this.mixOwner.get(p.id) === s.participant.id || (p.id === this.fullMix?.id && !this.mixes.has(s.participant.id))),
  };

  constructor(private readonly options: McuRoomOptions) {
    this.mixer = new CompositeMixer({ ...options.composite, python: options.python, logger: options.logger });
    const max = this.mixer.options.maxBitrateBps;
    const start = options.startBitrateBps === undefined ? this.mixer.bitrate : Math.max(MIN_ENCODER_BITRATE_BPS, Math.min(Math.round(options.startBitrateBps), max));
    this.bitrate = new EncoderBitrate({ maxBitrateBps: max, startBps: start });
  }

  /**
   * Starts the worker, publishes the composite, subscribes the room's publications. A
   * {@link McuRoom.stop} while it runs undoes what it made (worker, socket, participant) and
   * makes it reject with `McuRoomStoppedError`.
   * @throws MediaError when the worker cannot start; SfuApiError when the room is gone; McuRoomStoppedError
   */
  async start(): Promise<void> {
    try {
      await this.startSteps();
    } catch (err) {
      if (!this.closed) throw err;
      await this.teardown();
      throw err instanceof McuRoomStoppedError ? err : new McuRoomStoppedError(this.options.room);
    }
  }

  private throwIfStopped(): void {
    if (this.closed) throw new McuRoomStoppedError(this.options.room);
  }

  private async startSteps(): Promise<void> {
    const { sfu, room, identity } = this.options;
    await this.mixer.start();
    this.throwIfStopped();
    if (this.bitrate.bitrateBps !== this.mixer.bitrate) await this.mixer.setBitrate(this.bitrate.bitrateBps);
    this.pliSocket = createSocket('udp4');
    this.pliSocket.bind(0, '127.0.0.1');
    await once(this.pliSocket, 'listening');
    this.throwIfStopped();
    this.pliSocket.on('message', () => this.keyframe());
    if (!this.options.fallback) sfu.setSubscriptionPolicy(room, this.policy);
    sfu.addServerParticipant(room, identity, 'mixer');
    this.video = await sfu.publishLocalRtp(room, identity, {
      kind: 'video',
      streamId: COMPOSITE_STREAM_ID,
      keyframeRequestsTo: { address: '127.0.0.1', port: this.pliSocket.address().port },
      onSubscriberEstimate: (bps, sendingBps) => this.subscriberEstimate(bps, sendingBps),
    });
    this.throwIfStopped();
    await this.mixer.addOutput({ kind: 'video', port: this.video.port });
    this.throwIfStopped();
    if (!this.options.fallback) {
      this.fullMix = await sfu.publishLocalRtp(room, identity, { kind: 'audio', streamId: `${MIX_STREAM_PREFIX}all` });
      this.throwIfStopped();
      await this.mixer.addOutput({ kind: 'mix', port: this.fullMix.port });
      this.throwIfStopped();
    }
    this.feed = new CompositeFeed({
      sfu,
      room,
      identity,
      mixer: this.mixer,
      nameOf: this.options.nameOf,
      exclude: isDariWorkerIdentity,
      logger: this.options.logger,
      onParticipantsChanged: () => (this.options.fallback ? undefined : void this.syncMixes()),
    });
    await this.feed.start();
    this.throwIfStopped();
    if (!this.options.fallback) sfu.setSubscriptionPolicy(room, this.policy);
    sfu.on('active-speakers', this.onSpeakers);
    this.activeSpeakers(sfu.activeSpeakers(room));
  }

  /** The identity whose tile is framed as the active speaker, if any. */
  get activeSpeaker(): string | undefined {
    return this.speaker;
  }

  /** The composite's subscribers' lowest REMB estimate as last reported, bps (null: none known). */
  get subscriberEstimateBps(): number | null {
    return this.estimate;
  }

  /** The composite encoder's bitrate now, bps (follows the subscribers' REMB). */
  get bitrateBps(): number {
    return this.mixer.bitrate;
  }

  /** Participants with a tile. */
  participants(): string[] {
    return this.feed?.participants() ?? [];
  }

  /** Stops the worker and leaves the room (its publications end). Idempotent; a running {@link McuRoom.start} is undone. */
  async stop(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.teardown();
  }

  /** Releases what exists of the room's parts; safe to run twice (stop, then a start that saw it). */
  private async teardown(): Promise<void> {
    this.options.sfu.off('active-speakers', this.onSpeakers);
    this.feed?.close();
    await this.mixer.stop().catch(() => undefined);
    try {
      this.pliSocket?.close();
    } catch {
      // closed already
    }
    try {
      this.options.sfu.removeServerParticipant(this.options.room, this.options.identity);
    } catch {
      // not added yet, or the room is gone already
    }
  }

  private subscriberEstimate(bps: number | null, sendingBps: number): void {
    this.estimate = bps;
    const next = this.bitrate.update(bps, sendingBps, Date.now());
    if (next === undefined || this.closed) return;
    this.options.logger.debug({ room: this.options.room, bps: next, estimate: bps }, 'mcu: composite bitrate follows the subscribers\' REMB');
    this.mixer.setBitrate(next).catch(() => undefined);
  }

  /** Frames the dominant speaker's tile; silence keeps the last one framed. */
  private activeSpeakers(speakers: readonly ActiveSpeaker[]): void {
    const dominant = speakers[0]?.identity;
    if (dominant === undefined || this.closed) return;
    const id = this.feed?.compositeId(dominant);
    if (id === undefined) return;
    this.speaker = dominant;
    this.mixer.setActiveSpeaker(id).catch(() => undefined);
  }

  private keyframe(): void {
    const now = Date.now();
    if (now - this.lastKeyframe < KEYFRAME_MIN_INTERVAL_MS) return;
    this.lastKeyframe = now;
    this.mixer.requestKeyframe().catch(() => undefined);
  }

  /** One N−1 mix publication per participant with a tile. A change during a sync syncs again after it. */
  private syncMixes(): Promise<void> {
    this.syncAgain = true;
    this.syncing ??= (async () => {
      while (this.syncAgain && !this.closed) {
        this.syncAgain = false;
        try {
          await this.syncMixesOnce();
        } catch (err) {
          this.options.logger.warn({ room: this.options.room, err: (err as Error).message }, 'mcu: audio mixes not in sync; next try at the next change');
        }
      }
    })().finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async syncMixesOnce(): Promise<void> {
    const { sfu, room, identity } = this.options;
    const present = new Set(this.participants());
    for (const [who, mix] of [...this.mixes]) {
      if (present.has(who)) continue;
      this.mixes.delete(who);
      this.mixOwner.delete(mix.publication.id);
      mix.publication.close();
      await this.mixer.removeOutput(mix.output).catch(() => undefined);
    }
    for (const who of present) {
      const id = this.feed?.compositeId(who);
      if (this.mixes.has(who) || id === undefined || this.closed) continue;
      const publication = await sfu.publishLocalRtp(room, identity, { kind: 'audio', streamId: `${MIX_STREAM_PREFIX}${id}` });
      this.mixOwner.set(publication.id, who);
      const { output } = await this.mixer.addOutput({ kind: 'audio', participant: id, port: publication.port });
      this.mixes.set(who, { publication, output });
    }
    if (this.closed) return;
    sfu.setSubscriptionPolicy(room, this.policy);
    // A new tile may be the speaker's, or the framed one's may be gone.
    if (this.speaker !== undefined && !present.has(this.speaker)) this.speaker = undefined;
    this.activeSpeakers(sfu.activeSpeakers(room));
  }
}
