/**
 * The sans-I/O TURN server target (RFC 8656): a case is a random server configuration and a
 * sequence of inputs from several client 5-tuples and peers. The clients authenticate for real
 * (they learn NONCE and REALM from 401/438 answers and sign with their long-term or REST keys), so
 * the sequences reach Allocate, Refresh, CreatePermission, ChannelBind, Send and ChannelData with
 * valid credentials; messages are then mutated before signing (authenticated but odd) or after
 * (broken), replayed from other 5-tuples, retransmitted, and interleaved with relay-bind results,
 * closed connections and clock jumps. Every case ends by letting everything expire: the server
 * must then hold nothing, and a fresh Allocate must still get a relay port.
 */
import { Attr, Method, messageType, encodeChannelData, writeString, writeXorAddress, writeRequestedTransport, writeUint32, writeAddressFamily, writeEvenPort, writeChannelNumber, writeChangeRequest, writePasswordAlgorithms, userHash, PasswordAlgorithm } from '@dari/stun';
import type { Rng } from './rng.js';
import { havoc } from './mutate.js';
import { MAGIC, mutateStructure, serialize, type GenAttribute, type GenMessage } from './stun-gen.js';
import { attributeValue, randomAttributeType } from './stun-values.js';
import { TurnHarness, type TurnStep } from './turn-harness.js';
import { TUPLES, randomConfig, randomPersona, usernameOf, keyOf, canAuthenticate, toHex, fromHex, type Persona, type TurnConfig } from './turn-config.js';
import { check, type CaseContext, type CaseOutcome, type CaseRecord, type Target } from './target.js';

/** Steps that end a case; besides those of {@link TurnStep}. */
export type FinaleStep = { op: 'expect-idle' } | { op: 'expect-allocated'; t: number };
type Step = TurnStep | FinaleStep;

const PEERS = ['198.51.100.7', '203.0.113.200', '8.8.8.8', '10.1.2.3', '127.0.0.1', '2001:db8:1234:5678:11:2233:4455:6677', '2606:4700::1111', '::ffff:198.51.100.7', '::1'];
const PORTS = [5000, 5001, 9, 65535];
const TICKS = [0, 1000, 5000, 30_000, 299_000, 301_000, 600_000, 3_600_000, -2000];
const STREAM_TUPLES = TUPLES.flatMap((t, i) => (t.protocol === 'udp' ? [] : [i]));

/** Runs steps, timing each; the driver and replays share it. */
class Runner {
  readonly h: TurnHarness;
  slowest = 0;
  constructor(
    config: TurnConfig,
    private readonly record: CaseRecord,
    private readonly trace?: (step: unknown) => void,
  ) {
    this.h = new TurnHarness(config);
  }

  run(step: Step): void {
    this.record.steps.push(step);
    this.trace?.(step);
    const t0 = performance.now();
    if (step.op === 'expect-idle') {
      const s = this.h.server.stats();
      check(s.allocations === 0 && s.permissions === 0 && s.channels === 0, `after everything expired the server still holds ${JSON.stringify(s)}`);
    } else if (step.op === 'expect-allocated') {
      const a = this.h.byTuple(step.t);
      check(a?.bound, 'a fresh Allocate failed after everything had expired (leaked relay ports or quota)');
    } else this.h.exec(step);
    this.slowest = Math.max(this.slowest, performance.now() - t0);
  }
}

export class TurnTarget implements Target {
  readonly name = 'turn' as const;

  seeds(): CaseRecord[] {
    return [];
  }

  run(rng: Rng, ctx: CaseContext): CaseOutcome {
    const base = ctx.corpus.length > 0 && rng.chance(0.3) ? rng.pick(ctx.corpus) : undefined;
    const config = base ? (base.config as TurnConfig) : randomConfig(rng);
    ctx.record.config = config;
    const r = new Runner(config, ctx.record, ctx.trace);
    const d = new Driver(rng, r, config);
    if (base) for (const step of mutateSteps(rng, base.steps as Step[])) r.run(step);
    else {
      const n = rng.chance(0.1) ? rng.range(60, 200) : rng.range(1, 40);
      for (let i = 0; i < n; i++) d.step();
    }
    d.finale();
    return { messages: r.h.messages, slowestStepMs: r.slowest, tags: r.h.tags };
  }

  replay(record: CaseRecord, trace?: (step: unknown) => void): CaseOutcome {
    const r = new Runner(record.config as TurnConfig, { target: 'turn', steps: [] }, trace);
    for (const step of record.steps as Step[]) r.run(step);
    return { messages: r.h.messages, slowestStepMs: r.slowest, tags: r.h.tags };
  }
}

/** Step-level mutations of a recorded sequence (finale checks dropped: the driver adds its own). */
function mutateSteps(rng: Rng, steps: Step[]): TurnStep[] {
  const out = steps.filter((s): s is TurnStep => s.op !== 'expect-idle' && s.op !== 'expect-allocated').map((s) => ({ ...s }));
  const n = 1 + rng.int(4);
  for (let k = 0; k < n && out.length > 0; k++) {
    const i = rng.int(out.length);
    const s = out[i]!;
    switch (rng.int(6)) {
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
        out.splice(i, 0, { op: 'tick', dt: rng.pick(TICKS) });
        break;
      case 4:
        if (s.op === 'client') out[i] = { ...s, hex: toHex(havoc(rng, fromHex(s.hex))), auth: s.auth === 'invalid' ? 'invalid' : 'unknown' };
        else if (s.op === 'bound') out[i] = { ...s, ok: !s.ok, retry: rng.chance(0.5) };
        else if (s.op === 'peer') out[i] = { ...s, hex: toHex(havoc(rng, fromHex(s.hex))) };
        break;
      default:
        // Moved to another 5-tuple, a request may become valid (its nonce's own) or invalid.
        if (s.op === 'client') out[i] = { ...s, t: rng.int(TUPLES.length), auth: 'unknown' };
    }
  }
  return out;
}

/** Generates steps from the state of the clients and the model. */
class Driver {
  private readonly personas: Persona[];
  private readonly last: (TurnStep & { op: 'client' })[] = [];

  constructor(
    private readonly rng: Rng,
    private readonly r: Runner,
    private readonly config: TurnConfig,
  ) {
    this.personas = TUPLES.map(() => randomPersona(rng, config));
  }

  private get h(): TurnHarness {
    return this.r.h;
  }

  step(): void {
    const rng = this.rng;
    const pending = [...this.h.allocations.values()].filter((a) => !a.bound);
    const kind = rng.weighted<string>([[pending.length > 0 ? 30 : 0, 'bound'], [45, 'request'], [15, 'data'], [12, 'peer'], [8, 'tick'], [2, 'closed'], [4, 'replay']]);
    switch (kind) {
      case 'bound': {
        const a = rng.pick(pending);
        const ok = rng.chance(0.85);
        this.r.run({ op: 'bound', alloc: a.id, ok, retry: !ok && rng.chance(0.7) });
        break;
      }
      case 'request':
        this.request(this.pickTuple());
        break;
      case 'data':
        this.data(this.pickTuple());
        break;
      case 'peer': {
        const allocs = [...this.h.allocations.values()];
        const a = allocs.length > 0 && rng.chance(0.9) ? rng.pick(allocs) : undefined;
        const perms = a ? [...a.permissions.keys()] : [];
        const address = perms.length > 0 && rng.chance(0.8) ? rng.pick(perms) : rng.pick(PEERS);
        const chans = a ? [...a.channels.values()].filter((c) => c.address === address) : [];
        const port = chans.length > 0 && rng.chance(0.6) ? rng.pick(chans).port : rng.pick(PORTS);
        const data = rng.chance(0.1) ? serialize({ type: messageType('request', Method.Binding), cookie: MAGIC, transactionId: rng.bytes(12), attributes: [], lengthDelta: 0 }, new Uint8Array(1)).bytes : rng.bytes(rng.size(1200));
        this.r.run({ op: 'peer', alloc: a?.id ?? rng.int(20), address, port, hex: toHex(data) });
        break;
      }
      case 'tick':
        this.r.run({ op: 'tick', dt: rng.pick(TICKS) });
        break;
      case 'closed':
        this.r.run({ op: 'closed', t: rng.pick(STREAM_TUPLES) });
        break;
      default: {
        // A message sent again: a retransmission from its own 5-tuple, or a replay from another.
        if (this.last.length === 0) return;
        const prev = rng.pick(this.last);
        const t = rng.chance(0.5) ? prev.t : rng.int(TUPLES.length);
        this.r.run({ ...prev, t, auth: t === prev.t || this.config.noAuth ? prev.auth : 'invalid' });
      }
    }
  }

  /** Tuples with an allocation more often, so that sequences get deep. */
  private pickTuple(): number {
    const withAlloc = [...this.h.allocations.values()].map((a) => a.t);
    return withAlloc.length > 0 && this.rng.chance(0.6) ? this.rng.pick(withAlloc) : this.rng.int(TUPLES.length);
  }

  private request(t: number, forced?: number): void {
    const rng = this.rng;
    const a = this.h.byTuple(t);
    const tid = rng.bytes(12);
    const attrs: GenAttribute[] = [];
    const method =
      forced ??
      (a?.bound
        ? rng.weighted<number>([[30, Method.CreatePermission], [25, Method.ChannelBind], [15, Method.Refresh], [5, Method.Allocate], [5, Method.Binding], [2, rng.int(0x1000)]])
        : rng.weighted<number>([[70, Method.Allocate], [10, Method.Binding], [5, Method.Refresh], [5, Method.CreatePermission], [5, Method.ChannelBind], [2, rng.int(0x1000)]]));
    if (forced !== undefined) {
      // The probe of the finale: a plain Allocate for a relay family the server has.
      attrs.push({ type: Attr.REQUESTED_TRANSPORT, value: writeRequestedTransport(17) });
      if (!this.config.relayV4) attrs.push({ type: Attr.REQUESTED_ADDRESS_FAMILY, value: writeAddressFamily(2) });
      this.send(t, method, tid, attrs, true);
      return;
    }
    const family = TUPLES[t]!.family;
    const peer = () => {
      // Mostly of the allocation's family; now and then the other one (443 Peer Address Family Mismatch).
      const address = rng.pick(PEERS.filter((p) => p.includes(':') === ((a?.family ?? family) === 6) || rng.chance(0.1)));
      return { family: (address.includes(':') ? 6 : 4) as 4 | 6, address, port: rng.pick(PORTS) };
    };
    switch (method) {
      case Method.Allocate: {
        if (rng.chance(0.95)) attrs.push({ type: Attr.REQUESTED_TRANSPORT, value: writeRequestedTransport(rng.chance(0.95) ? 17 : 6) });
        if (rng.chance(0.3)) attrs.push({ type: Attr.LIFETIME, value: writeUint32(rng.pick([0, 30, 600, 3600, 100_000])) });
        if (rng.chance(0.25)) attrs.push({ type: Attr.REQUESTED_ADDRESS_FAMILY, value: writeAddressFamily(rng.pick([1, 2, 2, 3])) });
        if (rng.chance(0.2)) attrs.push({ type: Attr.EVEN_PORT, value: writeEvenPort(rng.chance(0.6)) });
        if (rng.chance(0.15)) {
          const tokens = [...this.h.allocations.values()].flatMap((x) => (x.token ? [x.token] : []));
          attrs.push({ type: Attr.RESERVATION_TOKEN, value: tokens.length > 0 && rng.chance(0.8) ? fromHex(rng.pick(tokens)) : rng.bytes(8) });
        }
        if (rng.chance(0.03)) attrs.push({ type: Attr.DONT_FRAGMENT, value: new Uint8Array(0) });
        if (rng.chance(0.05)) attrs.push({ type: Attr.ADDITIONAL_ADDRESS_FAMILY, value: writeAddressFamily(2) });
        break;
      }
      case Method.Refresh:
        if (rng.chance(0.8)) attrs.push({ type: Attr.LIFETIME, value: writeUint32(rng.pick([0, 0, 60, 600, 3600, 0xffffffff])) });
        if (rng.chance(0.1)) attrs.push({ type: Attr.REQUESTED_ADDRESS_FAMILY, value: writeAddressFamily(rng.pick([1, 2])) });
        break;
      case Method.CreatePermission: {
        const n = rng.weighted<number>([[6, 1], [3, 2], [1, 4], [rng.chance(0.05) ? 1 : 0, 40]]);
        for (let i = 0; i < n; i++) attrs.push({ type: Attr.XOR_PEER_ADDRESS, value: writeXorAddress(peer(), tid) });
        break;
      }
      case Method.ChannelBind: {
        const chans = a ? [...a.channels.entries()] : [];
        const reuse = chans.length > 0 && rng.chance(0.4) ? rng.pick(chans) : undefined;
        attrs.push({ type: Attr.CHANNEL_NUMBER, value: writeChannelNumber(reuse && rng.chance(0.7) ? reuse[0] : rng.chance(0.95) ? rng.range(0x4000, 0x4003) : rng.pick([0x3fff, 0x8000, 0x7fff])) });
        const p = reuse && rng.chance(0.7) ? { family: a!.family, address: reuse[1].address, port: reuse[1].port } : peer();
        attrs.push({ type: Attr.XOR_PEER_ADDRESS, value: writeXorAddress(p, tid) });
        break;
      }
      case Method.Binding:
        if (rng.chance(0.2)) attrs.push({ type: Attr.CHANGE_REQUEST, value: writeChangeRequest({ changeIp: rng.chance(0.5), changePort: rng.chance(0.5) }) });
        if (rng.chance(0.1)) attrs.push({ type: Attr.RESPONSE_PORT, value: new Uint8Array([0x13, 0x88, 0, 0]) });
        if (rng.chance(0.1)) attrs.push({ type: Attr.PADDING, value: new Uint8Array(rng.size(2000)) });
        break;
    }
    if (rng.chance(0.1)) {
      const type = randomAttributeType(rng);
      attrs.splice(rng.int(attrs.length + 1), 0, { type, value: attributeValue(rng, type, tid) });
    }
    this.send(t, method, tid, attrs, false);
  }

  /** Signs (when the client has a nonce), mutates now and then, and sends. */
  private send(t: number, method: number, tid: Uint8Array, attrs: GenAttribute[], clean: boolean): void {
    const rng = this.rng;
    const p = this.personas[t]!;
    const nonce = this.h.nonces[t];
    const username = this.config.noAuth ? '' : usernameOf(p);
    const sha256 = p.kind === 'user' && p.sha256;
    const key = keyOf(p, username, this.config.realm);
    const sign = !this.config.noAuth && nonce !== undefined && (clean || rng.chance(0.92));
    if (sign) {
      if (p.kind === 'user' && p.userhash) attrs.push({ type: Attr.USERHASH, value: userHash(p.name, this.config.realm) });
      else attrs.push({ type: Attr.USERNAME, value: writeString(username) });
      attrs.push({ type: Attr.REALM, value: writeString(!clean && rng.chance(0.03) ? 'other.realm' : this.config.realm) });
      attrs.push({ type: Attr.NONCE, value: writeString(!clean && rng.chance(0.03) ? `${nonce}x` : nonce) });
      if (sha256) {
        attrs.push({ type: Attr.PASSWORD_ALGORITHMS, value: writePasswordAlgorithms([{ algorithm: PasswordAlgorithm.SHA256 }, { algorithm: PasswordAlgorithm.MD5 }]) });
        attrs.push({ type: Attr.PASSWORD_ALGORITHM, value: writePasswordAlgorithms([{ algorithm: PasswordAlgorithm.SHA256 }]) });
      }
      const sha256Mi = rng.chance(0.3);
      attrs.push({ type: sha256Mi ? Attr.MESSAGE_INTEGRITY_SHA256 : Attr.MESSAGE_INTEGRITY, value: new Uint8Array(0), integrity: sha256Mi ? 'sha256' : 'sha1', truncate: sha256Mi ? 32 : 20 });
    }
    if (rng.chance(0.8)) attrs.push({ type: Attr.FINGERPRINT, value: new Uint8Array(0), fingerprint: true });
    let m: GenMessage = { type: messageType('request', method), cookie: MAGIC, transactionId: tid, attributes: attrs, lengthDelta: 0 };
    if (!clean && rng.chance(0.12)) for (let i = rng.int(2); i >= 0; i--) m = mutateStructure(rng, m);
    let bytes = serialize(m, key).bytes;
    const broken = !clean && rng.chance(0.04);
    if (broken) bytes = havoc(rng, bytes);
    const able = canAuthenticate(p, this.config);
    const step: TurnStep & { op: 'client' } = { op: 'client', t, hex: toHex(bytes), auth: !able ? 'invalid' : broken ? 'unknown' : 'valid', user: this.config.noAuth ? '' : p.kind === 'user' ? p.name : username, key: toHex(key) };
    this.remember(step);
    this.r.run(step);
  }

  private remember(step: TurnStep & { op: 'client' }): void {
    if (this.last.length >= 8) this.last.shift();
    this.last.push(step);
  }

  /** Send indication or ChannelData to a peer with a permission (mostly), from tuple t. */
  private data(t: number): void {
    const rng = this.rng;
    const a = this.h.byTuple(t);
    const payload = rng.bytes(rng.size(1200));
    const chans = a ? [...a.channels.entries()] : [];
    if (chans.length > 0 && rng.chance(0.5)) {
      const [n] = rng.pick(chans);
      let cd = encodeChannelData(rng.chance(0.95) ? n : 0x4000 + rng.int(8), payload, TUPLES[t]!.protocol !== 'udp' && rng.chance(0.9));
      if (rng.chance(0.05)) cd = havoc(rng, cd);
      this.r.run({ op: 'client', t, hex: toHex(cd), auth: 'valid' });
      return;
    }
    const perms = a ? [...a.permissions.keys()] : [];
    const address = perms.length > 0 && rng.chance(0.85) ? rng.pick(perms) : rng.pick(PEERS);
    const tid = rng.bytes(12);
    const attrs: GenAttribute[] = [
      { type: Attr.XOR_PEER_ADDRESS, value: writeXorAddress({ family: address.includes(':') ? 6 : 4, address, port: rng.pick(PORTS) }, tid) },
      { type: Attr.DATA, value: payload },
    ];
    if (rng.chance(0.03)) attrs.push({ type: Attr.DONT_FRAGMENT, value: new Uint8Array(0) });
    if (rng.chance(0.5)) attrs.push({ type: Attr.FINGERPRINT, value: new Uint8Array(0), fingerprint: true });
    let m: GenMessage = { type: messageType('indication', Method.Send), cookie: MAGIC, transactionId: tid, attributes: attrs, lengthDelta: 0 };
    if (rng.chance(0.08)) m = mutateStructure(rng, m);
    this.r.run({ op: 'client', t, hex: toHex(serialize(m, new Uint8Array(1)).bytes), auth: 'valid' });
  }

  /**
   * The end of every case: pending relay binds answered, then hours pass; the server must hold
   * nothing, and a fresh client must still get an allocation (no leaked ports or quota).
   */
  finale(): void {
    for (const a of [...this.h.allocations.values()]) if (!a.bound) this.r.run({ op: 'bound', alloc: a.id, ok: true, retry: false });
    this.r.run({ op: 'tick', dt: 5 * 3_600_000 });
    this.r.run({ op: 'expect-idle' });
    const t = 0;
    this.personas[t] = { kind: 'user', name: 'alice', password: 'secret', sha256: false, userhash: false };
    const allocate = () => this.request(t, Method.Allocate);
    allocate();
    if (!this.h.byTuple(t)) allocate();
    const a = this.h.byTuple(t);
    if (a && !a.bound) this.r.run({ op: 'bound', alloc: a.id, ok: true, retry: false });
    this.r.run({ op: 'expect-allocated', t });
  }
}
