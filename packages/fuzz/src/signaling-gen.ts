/**
 * Schema-aware generation of signaling client messages (docs/protocol.md; the zod schemas of
 * @dari/protocol): a valid message of every client type, built from the live state (identities in
 * the room, track sids, the connection's sid), then mutated the way a hostile client would —
 * wrong types, missing and extra fields, prototype-pollution keys, strings and arrays at and past
 * their limits, deep nesting, odd unicode, numbers at their limits — and sometimes broken as text.
 */
import { DEFAULT_LIMITS } from '@dari/protocol';
import type { Rng } from './rng.js';

/** What the generator knows about the room a connection is in. */
export interface GenState {
  identities: readonly string[];
  /** The identity of this connection's participant, if joined. */
  self?: string | undefined;
  /** Its participant sid (for `resume`). */
  sid?: string | undefined;
  /** sids known anywhere (for resume attempts). */
  sids: readonly string[];
  /** [publisher identity, track sid] of published tracks. */
  tracks: readonly [string, string][];
  tokens: readonly string[];
  rooms: readonly string[];
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const UNICODE = ['', 'a', 'é', '日本', '👩‍💻', '\u202e', '\u0000', '\ud800', '\udfff', 'e\u0301', '\ufeff', '\u2028', '"', '\\', '<script>'];
const EDGE_NUMBERS = [0, -0, 1, -1, 0.5, 1.5, 2 ** 31, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 1e308, -1e308, 5e-324, 16384, 16385, 1024, 1025];
const POLLUTION = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', '__defineGetter__', 'valueOf'];

/** A string of `n` repetitions of a piece. */
const long = (piece: string, n: number): string => piece.repeat(Math.max(0, n));

export function randomString(rng: Rng, limit = 64): string {
  switch (rng.int(8)) {
    case 0:
      return long(rng.pick(UNICODE) || 'x', limit);
    case 1:
      return long('x', limit + 1);
    case 2:
      return rng.pick(POLLUTION);
    default: {
      let s = '';
      for (let i = rng.int(6); i > 0; i--) s += rng.pick(UNICODE);
      return s || 'x';
    }
  }
}

/** A plausible SFU offer (it has a fingerprint and VP8/Opus), a bad one, or one at the size limit. */
export function randomSdp(rng: Rng): string {
  const lines = ['v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0'];
  if (rng.chance(0.8)) lines.push('a=fingerprint:sha-256 ' + long('AB:', 31) + 'AB');
  const m = rng.weighted<number>([[6, 1], [3, 2], [1, 33]]);
  for (let i = 0; i < m; i++) {
    const kind = rng.pick(['audio', 'video', 'application']);
    lines.push(`m=${kind} ${rng.chance(0.9) ? 9 : 0} UDP/TLS/RTP/SAVPF 96`, `a=mid:${i}`, `a=${rng.pick(['sendrecv', 'sendonly', 'recvonly', 'inactive'])}`);
    lines.push(`a=rtpmap:96 ${kind === 'audio' ? rng.pick(['opus', 'PCMU']) : rng.pick(['VP8', 'H264', 'vp8'])}/90000`);
  }
  let sdp = lines.join(rng.chance(0.9) ? '\r\n' : '\n');
  if (rng.chance(0.03)) sdp = sdp + long('a=x\r\n', (DEFAULT_LIMITS.maxSdpLength - sdp.length) / 5 + rng.pick([0, 1]));
  if (rng.chance(0.05)) sdp = rng.pick(['', 'v=1', long('m=', 1000), 'v=0\r\nm=video 9 X 96']);
  return sdp;
}

function trackInfo(rng: Rng, n: number): Json {
  return { sid: `TR_${n}`, source: rng.pick(['camera', 'microphone', 'screen_share', 'screen_share_audio']), kind: rng.pick(['audio', 'video']), streamId: `stream-${rng.int(3)}`, muted: rng.chance(0.3) };
}

function candidate(rng: Rng): Json {
  return rng.chance(0.1) ? null : { candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 54321 typ host', sdpMid: rng.chance(0.8) ? '0' : null, sdpMLineIndex: rng.pick([0, 1, 1024]) };
}

/** A valid (or nearly) message of a client type, from the state. */
export function clientMessage(rng: Rng, type: string, s: GenState): Record<string, Json> {
  const someone = () => (s.identities.length > 0 && rng.chance(0.85) ? rng.pick(s.identities) : randomString(rng, 256));
  const m: Record<string, Json> = { type };
  if (rng.chance(0.4)) m['id'] = rng.chance(0.7) ? rng.int(1000) : randomString(rng, 64);
  switch (type) {
    case 'join':
      m['v'] = rng.chance(0.95) ? 1 : rng.pick([2, 0, 1.5]);
      m['token'] = s.tokens.length > 0 ? rng.pick(s.tokens) : 'x';
      if (rng.chance(0.5)) m['room'] = rng.pick(s.rooms);
      if (rng.chance(0.2)) m['metadata'] = randomString(rng, DEFAULT_LIMITS.maxMetadataLength);
      if (rng.chance(0.3) || (s.sid && rng.chance(0.5))) m['resume'] = { sid: s.sid && rng.chance(0.7) ? s.sid : s.sids.length > 0 ? rng.pick(s.sids) : 'PA_0' };
      break;
    case 'sdp':
      m['to'] = someone();
      m['description'] = { type: rng.pick(['offer', 'answer', 'pranswer']), sdp: randomSdp(rng) };
      break;
    case 'candidate':
      m['to'] = someone();
      m['candidate'] = candidate(rng);
      break;
    case 'signal': {
      const to: Json[] = rng.chance(0.5) ? [] : Array.from({ length: rng.weighted<number>([[8, 1], [3, 3], [1, DEFAULT_LIMITS.maxSignalTargets], [1, DEFAULT_LIMITS.maxSignalTargets + 1]]) }, someone);
      m['signal'] = { type: rng.pick(['chat', 'x', '__proto__']), data: rng.chance(0.95) ? randomString(rng, 40) : long('d', DEFAULT_LIMITS.maxSignalDataLength + rng.pick([0, 1])), to };
      break;
    }
    case 'update':
      if (rng.chance(0.6)) m['metadata'] = rng.chance(0.9) ? randomString(rng, 40) : long('m', DEFAULT_LIMITS.maxMetadataLength + rng.pick([0, 1]));
      if (rng.chance(0.6)) m['tracks'] = Array.from({ length: rng.weighted<number>([[6, 1], [3, 3], [1, 16], [1, 17]]) }, (_, i) => trackInfo(rng, i));
      break;
    case 'ping':
      m['ts'] = rng.chance(0.9) ? rng.int(1e9) : rng.pick(EDGE_NUMBERS);
      break;
    case 'sfu-sdp':
      m['pc'] = rng.pick(['publisher', 'subscriber']);
      m['description'] = { type: rng.pick(['offer', 'answer']), sdp: randomSdp(rng) };
      break;
    case 'sfu-candidate':
      m['pc'] = rng.pick(['publisher', 'subscriber']);
      m['candidate'] = candidate(rng);
      break;
    case 'track-settings': {
      const t: [string, string] = s.tracks.length > 0 && rng.chance(0.8) ? rng.pick(s.tracks) : [someone(), 'TR_0'];
      m['participant'] = t[0];
      m['trackSid'] = t[1];
      m['width'] = rng.chance(0.9) ? rng.int(1920) : rng.pick(EDGE_NUMBERS);
      m['height'] = rng.chance(0.9) ? rng.int(1080) : rng.pick(EDGE_NUMBERS);
      break;
    }
  }
  return m;
}

/** A value of the wrong kind (or a kind at its limits). */
function oddValue(rng: Rng, depth: number): Json {
  switch (rng.int(9)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick(EDGE_NUMBERS);
    case 3:
      return randomString(rng, rng.pick([64, 256, 4096]));
    case 4:
      return [];
    case 5:
      return {};
    case 6:
      return nested(rng, depth);
    case 7:
      return Array.from({ length: rng.pick([1, 257, 2000]) }, () => 'x');
    default:
      return { [rng.pick(POLLUTION)]: { polluted: true } };
  }
}

/** Nesting `depth` levels deep (arrays and objects). */
function nested(rng: Rng, depth: number): Json {
  let v: Json = 'bottom';
  for (let i = 0; i < depth; i++) v = rng.chance(0.5) ? [v] : { a: v };
  return v;
}

/** All paths to fields of a message (for picking one to mutate). */
function paths(v: Json, prefix: string[] = [], out: string[][] = []): string[][] {
  if (v && typeof v === 'object' && prefix.length < 4) {
    for (const k of Object.keys(v)) {
      const p = [...prefix, k];
      out.push(p);
      paths((v as Record<string, Json>)[k] ?? null, p, out);
    }
  }
  return out;
}

/** Mutates a message object in place: change, delete or add one field. */
export function mutateObject(rng: Rng, m: Record<string, Json>): void {
  const all = paths(m).filter((p) => !(p.length === 1 && p[0] === 'type' && rng.chance(0.7)));
  const path = all.length > 0 ? rng.pick(all) : ['type'];
  let parent: Record<string, Json> = m;
  for (const k of path.slice(0, -1)) {
    const next = parent[k];
    if (!next || typeof next !== 'object') return;
    parent = next as Record<string, Json>;
  }
  const key = path[path.length - 1]!;
  const depth = rng.pick([3, 50, 2000]);
  switch (rng.int(4)) {
    case 0:
      delete parent[key];
      break;
    case 1: // a key that would pollute a prototype if copied naively
      Object.defineProperty(parent, rng.pick(POLLUTION), { value: oddValue(rng, depth), enumerable: true, configurable: true, writable: true });
      break;
    default:
      parent[key] = oddValue(rng, depth);
  }
}

/** Text-level breakage: cuts, inserted characters, duplicate keys, non-objects, Infinity. */
export function mutateText(rng: Rng, text: string): string {
  switch (rng.int(8)) {
    case 0:
      return text.slice(0, rng.int(text.length + 1));
    case 1: {
      const at = rng.int(text.length + 1);
      return text.slice(0, at) + rng.pick(['{', '}', '"', ',', ':', '\\', '\u0000', '1e999', ']', '\ud800']) + text.slice(at);
    }
    case 2: // duplicate keys: the last one wins in JSON.parse
      return text.startsWith('{') ? `{"type":"ping","ts":1,${text.slice(1)}` : text;
    case 3:
      return rng.pick(['[]', '"join"', '1', 'null', 'true', '', ' ', '{}', '[{"type":"ping","ts":1}]']);
    case 4:
      return text.replace(/"ts":\s*[-0-9.e]+/, '"ts":1e999').replace(/"width":\s*\d+/, '"width":-1e999');
    case 5:
      return `${text}${rng.pick([' ', '\n', 'x', '{}'])}`;
    case 6: // an oversized frame, in multi-byte characters
      return `{"type":"ping","ts":1,"pad":"${long(rng.pick(['x', 'é', '日', '👩']), rng.pick([22_000, 33_000, 66_000]))}"}`;
    default:
      return ` \t${text}\r\n`;
  }
}
