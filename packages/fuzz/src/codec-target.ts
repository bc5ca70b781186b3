/**
 * The STUN/TURN codec target: one case is one input (a datagram, a ChannelData message, a TCP
 * stream cut into chunks, or an address text), made by structure-aware generation and mutation,
 * by byte-level havoc of the corpus (seeded with the RFC 5769 vectors), or at random.
 */
import { Method, encodeChannelData, messageType } from '@dari/stun';
import { Rng } from './rng.js';
import { havoc, fixStunLength, toHex, fromHex, concat } from './mutate.js';
import { MAGIC, randomMessage, mutateStructure, serialize } from './stun-gen.js';
import { attributeValue, KNOWN_TYPES, V4_ADDRESSES, V6_ADDRESSES } from './stun-values.js';
import { checkMessage, checkStream, checkAddressText, FUZZ_KEY, type Expectation } from './codec-oracle.js';
import { RFC5769_VECTORS } from './vectors.js';
import { timed, type CaseContext, type CaseOutcome, type CaseRecord, type Target } from './target.js';

/** One recorded codec input. */
export type CodecStep =
  | { op: 'message'; hex: string; expect?: Expectation; attributes?: [number, string][] }
  | { op: 'stream'; hex: string; cuts: number[] }
  | { op: 'address'; text: string };

const ADDRESS_PIECES = ['1', '255', '256', '0', '00', '1.2.3.4', '.', ':', '::', 'ffff', 'FFFF', 'g', '%eth0', '%', '::ffff:', '1.2.3', '-1', ' ', '0x1', '12345', ':::', '/24'];

export class CodecTarget implements Target {
  readonly name = 'stun' as const;

  seeds(): CaseRecord[] {
    const seeds: CaseRecord[] = RFC5769_VECTORS.map((hex) => ({ target: 'stun', steps: [{ op: 'message', hex }] }));
    // One message of each method and class, and one of each known attribute.
    const tid = new Uint8Array(12).fill(7);
    for (const method of Object.values(Method)) {
      for (const cls of ['request', 'indication', 'success', 'error'] as const) {
        seeds.push(message(serialize({ type: messageType(cls, method), cookie: MAGIC, transactionId: tid, attributes: [], lengthDelta: 0 }, FUZZ_KEY).bytes));
      }
    }
    const rng = new Rng(0x5eed);
    for (const type of KNOWN_TYPES) {
      const attributes = [{ type, value: attributeValue(rng, type, tid) }];
      seeds.push(message(serialize({ type: messageType('request', Method.Allocate), cookie: MAGIC, transactionId: tid, attributes, lengthDelta: 0 }, FUZZ_KEY).bytes));
    }
    seeds.push({ target: 'stun', steps: [{ op: 'message', hex: toHex(encodeChannelData(0x4000, new Uint8Array([1, 2, 3]), true)) }] });
    return seeds;
  }

  run(rng: Rng, ctx: CaseContext): CaseOutcome {
    const step = this.generate(rng, ctx.corpus);
    ctx.record.steps.push(step);
    ctx.trace?.(step);
    return this.exec(step);
  }

  replay(record: CaseRecord, trace?: (step: unknown) => void): CaseOutcome {
    const tags: string[] = [];
    let messages = 0;
    let slowest = 0;
    for (const step of record.steps as CodecStep[]) {
      trace?.(step);
      const o = this.exec(step);
      messages += o.messages;
      slowest = Math.max(slowest, o.slowestStepMs);
      tags.push(...o.tags);
    }
    return { messages, slowestStepMs: slowest, tags };
  }

  private exec(step: CodecStep): CaseOutcome {
    const slowest = { ms: 0 };
    if (step.op === 'message') {
      const bytes = fromHex(step.hex);
      const attributes = step.attributes?.map(([type, hex]) => ({ type, value: fromHex(hex) }));
      const tags = timed(() => checkMessage(bytes, step.expect, attributes), slowest);
      return { messages: 1, slowestStepMs: slowest.ms, tags };
    }
    if (step.op === 'stream') {
      const frames = timed(() => checkStream(fromHex(step.hex), step.cuts), slowest);
      return { messages: Math.max(1, frames), slowestStepMs: slowest.ms, tags: [`stream:${Math.min(frames, 4)}`] };
    }
    const tag = timed(() => checkAddressText(step.text), slowest);
    return { messages: 0, slowestStepMs: slowest.ms, tags: [tag] };
  }

  private generate(rng: Rng, corpus: readonly CaseRecord[]): CodecStep {
    const kind = rng.weighted<string>([[40, 'structured'], [35, 'corpus'], [6, 'random'], [8, 'channel-data'], [8, 'stream'], [3, 'address']]);
    switch (kind) {
      case 'structured': {
        let m = randomMessage(rng);
        const mutations = rng.weighted<number>([[5, 0], [3, 1], [2, 2 + rng.int(4)]]);
        for (let i = 0; i < mutations; i++) m = mutateStructure(rng, m);
        const s = serialize(m, FUZZ_KEY);
        if (rng.chance(0.15)) return { op: 'message', hex: toHex(maybeFix(rng, havoc(rng, s.bytes))) };
        const attributes: [number, string][] | undefined = s.wellFormed ? m.attributes.map((a, i) => [a.type, toHex(s.values[i]!)]) : undefined;
        return { op: 'message', hex: toHex(s.bytes), expect: { wellFormed: s.wellFormed, integrityOk: s.integrityOk, fingerprintOk: s.fingerprintOk }, ...(attributes ? { attributes } : {}) };
      }
      case 'corpus': {
        const base = corpusBytes(rng, corpus);
        const other = corpusBytes(rng, corpus);
        return { op: 'message', hex: toHex(maybeFix(rng, havoc(rng, base, other))) };
      }
      case 'random': {
        const b = rng.bytes(rng.size(300));
        if (b.length >= 8 && rng.chance(0.5)) new DataView(b.buffer).setUint32(4, MAGIC);
        if (b.length >= 1 && rng.chance(0.5)) b[0] = b[0]! & 0x3f;
        return { op: 'message', hex: toHex(maybeFix(rng, b)) };
      }
      case 'channel-data': {
        const cd = encodeChannelData(rng.range(0x4000, 0x7fff), rng.bytes(rng.size(300)), rng.chance(0.5));
        return { op: 'message', hex: toHex(rng.chance(0.5) ? havoc(rng, cd) : cd) };
      }
      case 'stream': {
        const frames: Uint8Array[] = [];
        const n = 1 + rng.int(5);
        for (let i = 0; i < n; i++) {
          frames.push(rng.chance(0.6) ? serialize(randomMessage(rng), FUZZ_KEY).bytes : encodeChannelData(rng.range(0x4000, 0x7fff), rng.bytes(rng.size(100)), true));
        }
        let stream = concat(...frames);
        if (rng.chance(0.3)) stream = havoc(rng, stream);
        const cuts = Array.from({ length: rng.int(6) }, () => rng.int(stream.length + 1));
        return { op: 'stream', hex: toHex(stream), cuts };
      }
      default: {
        let text = '';
        if (rng.chance(0.5)) text = rng.pick(rng.chance(0.5) ? V4_ADDRESSES : V6_ADDRESSES);
        const n = rng.int(6);
        for (let i = 0; i < n; i++) {
          const piece = rng.pick(ADDRESS_PIECES);
          const at = rng.int(text.length + 1);
          text = rng.chance(0.5) ? text.slice(0, at) + piece + text.slice(at) : text.slice(0, at) + text.slice(at + piece.length);
        }
        return { op: 'address', text };
      }
    }
  }
}

function message(bytes: Uint8Array): CaseRecord {
  return { target: 'stun', steps: [{ op: 'message', hex: toHex(bytes) }] };
}

/** Half of the mutated inputs get a consistent header length, to reach the attribute parser. */
function maybeFix(rng: Rng, b: Uint8Array): Uint8Array {
  return rng.chance(0.5) ? fixStunLength(b) : b;
}

/** The bytes of a corpus entry's first message or stream. */
function corpusBytes(rng: Rng, corpus: readonly CaseRecord[]): Uint8Array {
  if (corpus.length === 0) return new Uint8Array(0);
  const step = rng.pick(corpus).steps[0] as CodecStep | undefined;
  return step && step.op !== 'address' ? fromHex(step.hex) : new Uint8Array(0);
}
