/**
 * The signaling core target: a case is a core configuration and a sequence of connections that
 * open, join (with real tokens of a test key pair: valid, expired, forged, malformed, for another
 * room, without grants), send every client message type valid and mutated, drop, resume, are
 * closed by the server, and a clock that moves. Now and then a crowd joins one room with
 * metadata and tracks at their size limits. Every case ends with everyone gone and time passed,
 * and the core must then hold nothing.
 */
import { SignJWT } from 'jose';
import { mintToken } from '@dari/server';
import type { Rng } from './rng.js';
import { havoc } from './mutate.js';
import { clientMessage, mutateObject, mutateText, type GenState } from './signaling-gen.js';
import { SignalingHarness, FUZZ_API_KEY, FUZZ_API_SECRET, type SignalingConfig, type SignalingStep } from './signaling-harness.js';
import type { CaseContext, CaseOutcome, CaseRecord, Target } from './target.js';

const START = 1_700_000_000_000;
const IDENTITIES = ['alice', 'bob', 'carol', 'dave', '__proto__', 'constructor', 'ü'.repeat(256), '👩‍💻'];
const ROOMS = ['r1', 'r2', '__proto__', 'toString'];
const TYPES: [number, string][] = [[3, 'leave'], [12, 'sdp'], [12, 'candidate'], [14, 'signal'], [10, 'update'], [6, 'ping'], [8, 'sfu-sdp'], [6, 'sfu-candidate'], [4, 'sfu-leave'], [8, 'track-settings'], [2, 'join']];
const ESCAPED = '\u0001';

/** Tokens are minted once per process (HS256 signatures are deterministic): key → token. */
const tokenCache = new Map<string, Promise<string>>();

function token(kind: string, identity: string, room: string): Promise<string> {
  const key = JSON.stringify([kind, identity, room]);
  let t = tokenCache.get(key);
  if (!t) {
    const base = { apiKey: FUZZ_API_KEY, apiSecret: FUZZ_API_SECRET, room, identity, ttlS: 30 * 86400, now: START };
    switch (kind) {
      case 'no-publish':
        t = mintToken({ ...base, grants: { canPublish: false } });
        break;
      case 'no-data':
        t = mintToken({ ...base, grants: { canPublishData: false } });
        break;
      case 'named':
        t = mintToken({ ...base, name: ESCAPED.repeat(256), metadata: ESCAPED.repeat(4096) });
        break;
      case 'expired':
        t = mintToken({ ...base, ttlS: 60, now: START - 3_600_000 });
        break;
      case 'wrong-secret':
        t = mintToken({ ...base, apiSecret: 'another-secret-0123456789abcdef0123' });
        break;
      case 'unknown-key':
        t = mintToken({ ...base, apiKey: 'nokey' });
        break;
      case 'no-room':
        t = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer(FUZZ_API_KEY).setSubject(identity).setExpirationTime(START / 1000 + 86400).sign(new TextEncoder().encode(FUZZ_API_SECRET));
        break;
      default:
        t = mintToken(base);
    }
    tokenCache.set(key, t);
  }
  return t;
}

const TOKEN_KINDS: [number, string][] = [[20, 'ok'], [2, 'no-publish'], [2, 'no-data'], [2, 'named'], [1, 'expired'], [1, 'wrong-secret'], [1, 'unknown-key'], [1, 'no-room']];
const GARBAGE_TOKENS = ['', 'x', 'a.b.c', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4IiwiaXNzIjoiZnV6emtleSJ9.', 'eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln', 'eyJhbGciOiJIUzI1NiJ9..', '.'];

export function randomSignalingConfig(rng: Rng): SignalingConfig {
  return {
    maxParticipantsPerRoom: rng.pick([3, 5, 100]),
    maxQueuedMessages: rng.pick([4, 512]),
    reconnectGraceMs: rng.pick([10_000, 1000]),
    joinTimeoutMs: rng.pick([10_000, 2000]),
    rateLimitPerS: rng.pick([50, 5]),
    rateLimitBurst: rng.pick([200, 10]),
    maxViolations: rng.pick([10, 3]),
    maxMessageBytes: rng.pick([65_536, 65_536, 4096]),
    policies: ROOMS.filter(() => rng.chance(0.3)).map((r) => [r, rng.pick(['auto', 'p2p', 'sfu'] as const)]),
    start: START,
  };
}

class Runner {
  readonly h: SignalingHarness;
  slowest = 0;
  constructor(
    config: SignalingConfig,
    private readonly record: CaseRecord,
    private readonly trace?: (step: unknown) => void,
  ) {
    this.h = new SignalingHarness(config);
  }

  async run(step: SignalingStep): Promise<void> {
    this.record.steps.push(step);
    this.trace?.(step);
    this.slowest = Math.max(this.slowest, await this.h.exec(step));
  }
}

export class SignalingTarget implements Target {
  readonly name = 'signaling' as const;

  seeds(): CaseRecord[] {
    return [];
  }

  async run(rng: Rng, ctx: CaseContext): Promise<CaseOutcome> {
    const base = ctx.corpus.length > 0 && rng.chance(0.25) ? rng.pick(ctx.corpus) : undefined;
    const config = base ? (base.config as SignalingConfig) : randomSignalingConfig(rng);
    ctx.record.config = config;
    const r = new Runner(config, ctx.record, ctx.trace);
    const d = new Driver(rng, r);
    if (base) {
      for (const step of mutateSteps(rng, base.steps as SignalingStep[])) {
        if (step.op === 'open') d.nextConn = Math.max(d.nextConn, step.c + 1);
        await r.run(step);
      }
    } else if (rng.chance(0.005)) await d.crowd();
    else {
      const n = rng.chance(0.1) ? rng.range(80, 250) : rng.range(1, 50);
      for (let i = 0; i < n; i++) await d.step();
    }
    await d.finale();
    return { messages: r.h.messages, slowestStepMs: r.slowest, tags: r.h.tags };
  }

  async replay(record: CaseRecord, trace?: (step: unknown) => void): Promise<CaseOutcome> {
    const r = new Runner(record.config as SignalingConfig, { target: 'signaling', steps: [] }, trace);
    for (const step of record.steps as SignalingStep[]) await r.run(step);
    return { messages: r.h.messages, slowestStepMs: r.slowest, tags: r.h.tags };
  }
}

/** Step-level mutations of a recorded case; its closing check is dropped (the driver adds one). */
function mutateSteps(rng: Rng, steps: SignalingStep[]): SignalingStep[] {
  const out = steps.filter((s) => s.op !== 'expect-idle').map((s) => ({ ...s }));
  for (let k = 1 + rng.int(3); k > 0 && out.length > 0; k--) {
    const i = rng.int(out.length);
    const s = out[i]!;
    switch (rng.int(5)) {
      case 0:
        out.splice(i, 1);
        break;
      case 1:
        out.splice(i, 0, { ...s });
        break;
      case 2:
        if (i + 1 < out.length) [out[i], out[i + 1]] = [out[i + 1]!, s];
        break;
      case 3:
        out.splice(i, 0, { op: 'tick', dt: rng.pick([100, 1000, 10_000, 60_000]) });
        break;
      default:
        if (s.op === 'recv') out[i] = { ...s, text: rng.chance(0.5) ? mutateText(rng, s.text) : Buffer.from(havoc(rng, Buffer.from(s.text))).toString('utf8') };
    }
  }
  // A step on a connection the mutation left unopened would be a harness error, not a finding.
  const opened = new Set<number>();
  return out.filter((s) => {
    if (s.op === 'open') opened.add(s.c);
    if (s.op === 'disconnect') opened.delete(s.c);
    return s.op !== 'recv' || opened.has(s.c);
  });
}

class Driver {
  nextConn = 1;

  constructor(
    private readonly rng: Rng,
    private readonly r: Runner,
  ) {}

  private get h(): SignalingHarness {
    return this.r.h;
  }

  async step(): Promise<void> {
    const rng = this.rng;
    const open = [...this.h.open];
    const joined = open.filter((c) => this.h.joinedAs.has(c));
    const fresh = open.filter((c) => !this.h.joinedAs.has(c) && !this.h.pending.has(c) && !this.h.closing.has(c));
    const kind = rng.weighted<string>([
      [open.length < 6 ? 10 : 1, 'open'],
      [fresh.length > 0 ? 20 : 0, 'join'],
      [this.h.pending.size > 0 ? 25 : 0, 'complete'],
      [joined.length > 0 ? 40 : 0, 'message'],
      [open.length > 0 ? 4 : 0, 'stray'],
      [open.length > 0 ? 5 : 0, 'disconnect'],
      [this.h.closing.size > 0 ? 30 : 0, 'closed'],
      [6, 'tick'],
      [10, 'wait'],
      [1, 'policy'],
    ]);
    switch (kind) {
      case 'open':
        await this.r.run({ op: 'open', c: this.nextConn++ });
        break;
      case 'join':
        await this.join(rng.pick(fresh));
        break;
      case 'complete':
        await this.r.run({ op: 'complete', c: rng.pick([...this.h.pending.keys()]) });
        break;
      case 'message':
        await this.message(rng.pick(joined), rng.weighted(TYPES));
        break;
      case 'stray':
        await this.message(rng.pick(open), rng.weighted(TYPES));
        break;
      case 'disconnect':
        await this.r.run({ op: 'disconnect', c: rng.pick(open) });
        break;
      case 'closed':
        await this.r.run({ op: 'disconnect', c: rng.pick([...this.h.closing]) });
        break;
      case 'tick':
        await this.r.run({ op: 'tick', dt: rng.pick([100, 1000, 2000, 5000, 10_000, 11_000, 60_000]) });
        break;
      case 'wait':
        await this.r.run({ op: 'tick', dt: rng.pick([1, 20, 100, 300]), quiet: true });
        break;
      default:
        await this.r.run({ op: 'policy', room: rng.pick(ROOMS), policy: rng.pick(['auto', 'p2p', 'sfu'] as const) });
    }
  }

  /** A join: a fresh session, or the resume of one that lost its connection. */
  private async join(c: number, identity?: string, room?: string, metadata?: string): Promise<void> {
    const rng = this.rng;
    const reconnecting = [...this.h.rooms.entries()].flatMap(([r, members]) => [...members.entries()].map(([id, m]) => ({ room: r, identity: id, sid: m.sid })));
    const resume = !identity && reconnecting.length > 0 && rng.chance(0.3) ? rng.pick(reconnecting) : undefined;
    const who = identity ?? resume?.identity ?? rng.pick(IDENTITIES);
    const where = room ?? resume?.room ?? rng.pick(ROOMS);
    const tok = identity ? await token('ok', who, where) : rng.chance(0.05) ? (rng.chance(0.5) ? rng.pick(GARBAGE_TOKENS) : Buffer.from(havoc(rng, Buffer.from(await token('ok', who, where)))).toString('latin1')) : await token(rng.weighted(TOKEN_KINDS), who, where);
    const m = clientMessage(rng, 'join', this.state(c, [tok]));
    m['token'] = tok;
    m['v'] = identity || rng.chance(0.97) ? 1 : m['v'] ?? 1;
    if (resume) m['resume'] = { sid: resume.sid };
    else if (identity) delete m['resume'];
    if (room || rng.chance(0.5)) m['room'] = where;
    else delete m['room'];
    if (metadata !== undefined) m['metadata'] = metadata;
    await this.send(c, m, identity !== undefined);
  }

  private async message(c: number, type: string): Promise<void> {
    if (type === 'join') return this.join(c);
    await this.send(c, clientMessage(this.rng, type, this.state(c, [])), false);
  }

  /** Mutates now and then, and sends. */
  private async send(c: number, m: Record<string, unknown>, clean: boolean): Promise<void> {
    const rng = this.rng;
    if (!clean && rng.chance(0.3)) for (let i = rng.int(3); i >= 0; i--) mutateObject(rng, m as Parameters<typeof mutateObject>[1]);
    let text = JSON.stringify(m);
    if (!clean && rng.chance(0.08)) text = mutateText(rng, text);
    await this.r.run({ op: 'recv', c, text, ...(rng.chance(0.1) ? { noLength: true as const } : {}) });
  }

  private state(c: number, tokens: string[]): GenState {
    const me = this.h.joinedAs.get(c);
    const members = me ? this.h.rooms.get(me.room) : undefined;
    return {
      identities: members ? [...members.keys()] : [],
      self: me?.identity,
      sid: me?.sid,
      sids: [...this.h.rooms.values()].flatMap((r) => [...r.values()].map((m) => m.sid)),
      tracks: this.h.tracks,
      tokens,
      rooms: ROOMS,
    };
  }

  /** Many participants in one room, each with metadata and tracks at their limits. */
  async crowd(): Promise<void> {
    const n = this.rng.range(24, 32);
    for (let i = 0; i < n; i++) {
      const c = this.nextConn++;
      await this.r.run({ op: 'open', c });
      await this.join(c, `p${i}`, 'crowd', ESCAPED.repeat(4096));
      await this.r.run({ op: 'complete', c });
      const tracks = Array.from({ length: 16 }, (_, k) => ({ sid: `${ESCAPED.repeat(60)}${k}`, source: 'camera', kind: 'video', streamId: ESCAPED.repeat(128), muted: false }));
      await this.send(c, { type: 'update', tracks }, true);
      await this.r.run({ op: 'tick', dt: 1000, quiet: true });
    }
  }

  /** Everyone leaves, time passes: the core must hold nothing. */
  async finale(): Promise<void> {
    for (const c of [...this.h.pending.keys()]) await this.r.run({ op: 'complete', c });
    for (const c of [...this.h.open]) await this.r.run({ op: 'disconnect', c });
    const { reconnectGraceMs, joinTimeoutMs } = this.h.config;
    await this.r.run({ op: 'tick', dt: Math.max(reconnectGraceMs, joinTimeoutMs) + 1000 });
    await this.r.run({ op: 'expect-idle' });
  }
}
