/**
 * Feeds a {@link CompositeMixer} from an SFU room: every participant's first video and first audio
 * publication reaches a composite input through a local RTP subscription (loopback UDP) of one
 * server-side participant (the feed's `identity`). It follows the room by looking at its
 * publications every `pollMs` (the SFU package has no publication events), so participants who
 * publish later or leave are added and removed; a restarted composite worker's new input ports
 * are subscribed again; the composite's keyframe requests reach the publishers as PLIs.
 *
 * Composite ids are Dari's own (`p1`, `p2`, …): a participant's identity never reaches the worker,
 * its display name goes onto its tile as text only.
 */
import type { CompositeMixer, InputPorts } from '@dari/media';
import type { LocalRtpSubscription, SfuManager } from '@dari/sfu';
import type { Logger } from '../logger.js';

export interface CompositeFeedOptions {
  sfu: SfuManager;
  room: string;
  /** The server-side participant (already added to the room) whose subscriptions feed the mixer. */
  identity: string;
  mixer: CompositeMixer;
  /** A participant's display name (for its tile); default its identity. */
  nameOf?: (identity: string) => string | undefined;
  /** Publishers to leave out (Dari's own server-side participants: mixers, recorders). */
  exclude: (identity: string) => boolean;
  /** How often the room's publications are compared with the inputs, ms. Default 250. */
  pollMs?: number;
  /** Called after a comparison that added or removed a participant's tile. */
  onParticipantsChanged?: () => void;
  logger: Logger;
}

interface Input {
  publicationId: string;
  participant: string;
  kind: 'video' | 'audio';
  subscription: LocalRtpSubscription | undefined;
}

export class CompositeFeed {
  private readonly inputs = new Map<string, Input>();
  /** identity → composite id. */
  private readonly ids = new Map<string, string>();
  private nextId = 1;
  private timer: NodeJS.Timeout | undefined;
  private syncing: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: CompositeFeedOptions) {
    options.mixer.on('keyframeNeeded', (id) => {
      for (const input of this.inputs.values()) if (input.kind === 'video' && this.ids.get(input.participant) === id) input.subscription?.requestKeyframe();
    });
    options.mixer.on('portsChanged', (id, ports) => void this.resubscribe(id, ports));
  }

  /** Subscribes what the room publishes now, then follows it. */
  async start(): Promise<void> {
    await this.sync();
    this.timer = setInterval(() => void this.sync(), this.options.pollMs ?? 250);
    this.timer.unref();
  }

  /** Participants with a tile, by identity. */
  participants(): string[] {
    return [...this.ids.keys()];
  }

  /** A participant's id in the composite (its tile, its N−1 mix). */
  compositeId(identity: string): string | undefined {
    return this.ids.get(identity);
  }

  /** Ends every subscription (the mixer is the caller's to stop). Idempotent. */
  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    for (const input of this.inputs.values()) input.subscription?.close();
    this.inputs.clear();
  }

  /** One comparison of the room's publications with the inputs; calls never overlap. */
  sync(): Promise<void> {
    this.syncing ??= this.syncOnce()
      .catch((err: unknown) => this.options.logger.warn({ room: this.options.room, err: (err as Error).message }, 'composite feed: sync failed; retrying'))
      .finally(() => (this.syncing = undefined));
    return this.syncing;
  }

  private async syncOnce(): Promise<void> {
    const { sfu, room, mixer, exclude } = this.options;
    const before = this.ids.size;
    const added = this.nextId;
    const wanted = new Map<string, { participant: string; kind: 'video' | 'audio' }>();
    const taken = new Set<string>();
    for (const p of sfu.publications(room)) {
      if (p.closed || exclude(p.participant) || taken.has(`${p.participant}/${p.kind}`)) continue;
      taken.add(`${p.participant}/${p.kind}`);
      wanted.set(p.id, { participant: p.participant, kind: p.kind });
    }
    for (const [pubId, input] of [...this.inputs]) {
      if (wanted.has(pubId) || this.closed) continue;
      this.inputs.delete(pubId);
      input.subscription?.close();
      const id = this.ids.get(input.participant)!;
      await (input.kind === 'video' ? mixer.removeVideo(id) : mixer.removeAudio(id));
      if (![...this.inputs.values()].some((i) => i.participant === input.participant)) {
        this.ids.delete(input.participant);
        await mixer.removeParticipant(id);
      }
    }
    for (const [pubId, want] of wanted) {
      if (this.inputs.has(pubId) || this.closed) continue;
      let id = this.ids.get(want.participant);
      if (id === undefined) {
        id = `p${this.nextId++}`;
        this.ids.set(want.participant, id);
        await mixer.addParticipant(id, this.options.nameOf?.(want.participant) ?? want.participant);
      }
      const input: Input = { publicationId: pubId, participant: want.participant, kind: want.kind, subscription: undefined };
      this.inputs.set(pubId, input);
      let port: Awaited<ReturnType<typeof mixer.addVideo>>;
      try {
        port = await (want.kind === 'video' ? mixer.addVideo(id) : mixer.addAudio(id));
      } catch (err) {
        this.inputs.delete(pubId); // the mixer has no such input: the next sync adds it again
        throw err;
      }
      await this.subscribe(input, port);
    }
    if (this.ids.size !== before || this.nextId !== added) this.options.onParticipantsChanged?.();
  }

  private async subscribe(input: Input, port: number): Promise<void> {
    input.subscription?.close();
    input.subscription = undefined;
    const subscription = await this.options.sfu.subscribeLocalRtp(this.options.room, this.options.identity, input.publicationId, { address: '127.0.0.1', port });
    if (this.closed || this.inputs.get(input.publicationId) !== input) return subscription.close();
    input.subscription = subscription;
  }

  /** A restarted worker listens on new ports: the inputs' subscriptions follow. */
  private async resubscribe(id: string, ports: InputPorts): Promise<void> {
    for (const input of this.inputs.values()) {
      if (this.ids.get(input.participant) !== id) continue;
      const port = ports[input.kind];
      if (port === undefined) continue;
      try {
        await this.subscribe(input, port);
      } catch (err) {
        this.options.logger.warn({ room: this.options.room, err: (err as Error).message }, 'composite feed: resubscribe after a worker restart failed');
      }
    }
  }
}
