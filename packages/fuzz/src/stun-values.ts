/**
 * Valid (and nearly valid) values for every STUN/TURN attribute type the codec knows
 * (RFC 8489 §14, RFC 8656 §18, RFC 5780 §7, RFC 8445 §16), plus addresses, texts and numbers at
 * their edges. Used by the structure-aware generators of the codec and TURN server targets.
 */
import {
  Attr, ErrorReason, PasswordAlgorithm, writeAddress, writeXorAddress, writeString, writeErrorCode, writeUint32, writeChannelNumber,
  writeRequestedTransport, writeAddressFamily, writeEvenPort, writeUnknownAttributes, writePasswordAlgorithms, writeChangeRequest,
  writeAddressErrorCode, writeIcmp, type TransportAddress,
} from '@dari/stun';
import type { Rng } from './rng.js';

/** IPv4 peers across the classes the peer policy tells apart (public, private, loopback, special). */
export const V4_ADDRESSES = ['192.0.2.10', '198.51.100.7', '203.0.113.200', '8.8.8.8', '127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '255.255.255.255', '224.0.0.1', '198.18.0.1'];
/** IPv6 peers, including the spellings that embed an IPv4 address (mapped, compatible, NAT64, 6to4). */
export const V6_ADDRESSES = ['2001:db8::10', '2001:db8:1234:5678:11:2233:4455:6677', '::1', '::', 'fe80::1', 'fc00::5', 'ff02::1', '::ffff:127.0.0.1', '::ffff:198.51.100.7', '::127.0.0.1', '64:ff9b::a01:203', '2002:a00:1::1', '2606:4700::1111', '100::1'];

export function randomAddress(rng: Rng, family?: 4 | 6): TransportAddress {
  const fam = family ?? (rng.chance(0.7) ? 4 : 6);
  let address: string;
  if (rng.chance(0.8)) address = rng.pick(fam === 4 ? V4_ADDRESSES : V6_ADDRESSES);
  else if (fam === 4) address = [rng.int(256), rng.int(256), rng.int(256), rng.int(256)].join('.');
  else address = Array.from({ length: 8 }, () => rng.int(65536).toString(16)).join(':');
  const port = rng.weighted<number>([[4, rng.range(1024, 65535)], [1, 0], [1, 65535], [1, 3478]]);
  return { family: fam, address, port };
}

/** Pieces of text: ASCII, multi-byte, emoji, RTL, combining marks, NUL, a lone surrogate. */
const TEXT_PIECES = ['alice', 'example.org', 'a', ' ', '\u0000', 'é', 'ß', '日本語', '👩‍💻', '\u202e', 'e\u0301', '\ud800', '%', ':', '\\', '"', '\uffff', 'ｍａｔｒｉｘ', '\ufeff'];

/** A text of random pieces, sometimes long (near and past the 763- and 513-byte limits). */
export function randomText(rng: Rng, maxPieces = 12): string {
  const long = rng.chance(0.05);
  const n = long ? rng.range(100, 400) : rng.int(maxPieces + 1);
  let s = '';
  for (let i = 0; i < n; i++) s += rng.pick(TEXT_PIECES);
  return s;
}

const ERROR_CODES = Object.keys(ErrorReason).map(Number);

/**
 * A valid value of attribute `type`; random bytes for types without a grammar. XOR-encoded
 * addresses need the transaction id.
 */
export function attributeValue(rng: Rng, type: number, transactionId: Uint8Array): Uint8Array {
  switch (type) {
    case Attr.MAPPED_ADDRESS:
    case Attr.ALTERNATE_SERVER:
    case Attr.RESPONSE_ORIGIN:
    case Attr.OTHER_ADDRESS:
      return writeAddress(randomAddress(rng));
    case Attr.XOR_MAPPED_ADDRESS:
    case Attr.XOR_PEER_ADDRESS:
    case Attr.XOR_RELAYED_ADDRESS:
      return writeXorAddress(randomAddress(rng), transactionId);
    case Attr.USERNAME:
    case Attr.REALM:
    case Attr.NONCE:
    case Attr.SOFTWARE:
    case Attr.ALTERNATE_DOMAIN:
      return writeString(randomText(rng));
    case Attr.ERROR_CODE:
      return writeErrorCode(rng.chance(0.8) ? rng.pick(ERROR_CODES) : rng.range(300, 699), randomText(rng, 4));
    case Attr.UNKNOWN_ATTRIBUTES:
      return writeUnknownAttributes(Array.from({ length: rng.int(6) }, () => rng.int(0x10000)));
    case Attr.CHANNEL_NUMBER:
      return writeChannelNumber(rng.chance(0.8) ? rng.range(0x4000, 0x7fff) : rng.int(0x10000));
    case Attr.LIFETIME:
      return writeUint32(rng.weighted<number>([[3, rng.int(4000)], [1, 0], [1, 0xffffffff], [1, rng.u32()]]));
    case Attr.PRIORITY:
    case Attr.CACHE_TIMEOUT:
      return writeUint32(rng.u32());
    case Attr.DATA:
      return rng.bytes(rng.size(600));
    case Attr.REQUESTED_ADDRESS_FAMILY:
    case Attr.ADDITIONAL_ADDRESS_FAMILY:
      return writeAddressFamily(rng.weighted<number>([[4, 1], [3, 2], [1, rng.int(256)]]));
    case Attr.EVEN_PORT:
      return writeEvenPort(rng.chance(0.5));
    case Attr.REQUESTED_TRANSPORT:
      return writeRequestedTransport(rng.chance(0.85) ? 17 : rng.pick([6, 0, 255]));
    case Attr.DONT_FRAGMENT:
    case Attr.USE_CANDIDATE:
      return new Uint8Array(0);
    case Attr.MESSAGE_INTEGRITY:
      return rng.bytes(20);
    case Attr.MESSAGE_INTEGRITY_SHA256:
      return rng.bytes(rng.pick([16, 20, 24, 28, 32]));
    case Attr.PASSWORD_ALGORITHM:
      return writePasswordAlgorithms([{ algorithm: rng.pick([PasswordAlgorithm.MD5, PasswordAlgorithm.SHA256, rng.int(0x10000)]) }]);
    case Attr.PASSWORD_ALGORITHMS:
      return writePasswordAlgorithms(Array.from({ length: rng.int(4) }, () => ({ algorithm: rng.int(4), parameters: rng.bytes(rng.int(6)) })));
    case Attr.USERHASH:
      return rng.bytes(32);
    case Attr.RESERVATION_TOKEN:
      return rng.bytes(8);
    case Attr.PADDING:
      return new Uint8Array(rng.size(1600));
    case Attr.RESPONSE_PORT:
      return new Uint8Array([rng.int(256), rng.int(256), 0, 0]);
    case Attr.CHANGE_REQUEST:
      return writeChangeRequest({ changeIp: rng.chance(0.5), changePort: rng.chance(0.5) });
    case Attr.ADDRESS_ERROR_CODE:
      return writeAddressErrorCode(rng.pick([1, 2]), rng.pick(ERROR_CODES), randomText(rng, 3));
    case Attr.ICMP:
      return writeIcmp({ type: rng.int(256), code: rng.int(256), data: rng.u32() });
    case Attr.FINGERPRINT:
      return rng.bytes(4);
    case Attr.ICE_CONTROLLED:
    case Attr.ICE_CONTROLLING:
      return rng.bytes(8);
    default:
      return rng.bytes(rng.size(64));
  }
}

/** Every attribute type of the registry we implement. */
export const KNOWN_TYPES: readonly number[] = Object.values(Attr);

/** An attribute type: mostly known ones, sometimes unknown comprehension-required or -optional. */
export function randomAttributeType(rng: Rng): number {
  return rng.weighted<number>([
    [14, rng.pick(KNOWN_TYPES)],
    [1, rng.int(0x8000)],
    [1, 0x8000 + rng.int(0x8000)],
  ]);
}
