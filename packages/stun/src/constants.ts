/**
 * STUN/TURN numbers: classes, methods, attribute types and error codes, from the IANA
 * "Session Traversal Utilities for NAT (STUN) Parameters" registry (RFC 8489 §18, RFC 8656 §17,
 * RFC 5780 §9, RFC 8016 ICMP, RFC 6062 is not used).
 */

/** RFC 8489 §5: the fixed magic cookie, network byte order. */
export const MAGIC_COOKIE = 0x2112a442;
/** RFC 8489 §14.7: FINGERPRINT XOR constant ("STUN"). */
export const FINGERPRINT_XOR = 0x5354554e;
/** STUN header size, bytes (RFC 8489 §5). */
export const HEADER_BYTES = 20;

/** Message class (RFC 8489 §5), two bits C1 C0. */
export type StunClass = 'request' | 'indication' | 'success' | 'error';

/** Methods (RFC 8489 §18.2, RFC 8656 §17). */
export const Method = {
  Binding: 0x001,
  Allocate: 0x003,
  Refresh: 0x004,
  Send: 0x006,
  Data: 0x007,
  CreatePermission: 0x008,
  ChannelBind: 0x009,
} as const;
export type MethodName = keyof typeof Method;

/** Attribute types. Below 0x8000 comprehension-required, at or above comprehension-optional. */
export const Attr = {
  MAPPED_ADDRESS: 0x0001,
  CHANGE_REQUEST: 0x0003, // RFC 5780 §7.2
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  UNKNOWN_ATTRIBUTES: 0x000a,
  CHANNEL_NUMBER: 0x000c, // RFC 8656 §18.1
  LIFETIME: 0x000d,
  XOR_PEER_ADDRESS: 0x0012,
  DATA: 0x0013,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_RELAYED_ADDRESS: 0x0016,
  REQUESTED_ADDRESS_FAMILY: 0x0017,
  EVEN_PORT: 0x0018,
  REQUESTED_TRANSPORT: 0x0019,
  DONT_FRAGMENT: 0x001a,
  MESSAGE_INTEGRITY_SHA256: 0x001c,
  PASSWORD_ALGORITHM: 0x001d,
  USERHASH: 0x001e,
  XOR_MAPPED_ADDRESS: 0x0020,
  RESERVATION_TOKEN: 0x0022,
  PADDING: 0x0026, // RFC 5780 §7.6
  RESPONSE_PORT: 0x0027, // RFC 5780 §7.5
  PASSWORD_ALGORITHMS: 0x8002,
  ALTERNATE_DOMAIN: 0x8003,
  ADDITIONAL_ADDRESS_FAMILY: 0x8000,
  ADDRESS_ERROR_CODE: 0x8001,
  ICMP: 0x8004,
  SOFTWARE: 0x8022,
  ALTERNATE_SERVER: 0x8023,
  CACHE_TIMEOUT: 0x8027, // RFC 5780 §7.7
  FINGERPRINT: 0x8028,
  ICE_CONTROLLED: 0x8029, // RFC 8445 §16.1
  ICE_CONTROLLING: 0x802a,
  RESPONSE_ORIGIN: 0x802b, // RFC 5780 §7.3
  OTHER_ADDRESS: 0x802c, // RFC 5780 §7.4
  PRIORITY: 0x0024, // RFC 8445
  USE_CANDIDATE: 0x0025,
} as const;
export type AttrName = keyof typeof Attr;

/** Attribute types this codec and server understand; others below 0x8000 draw a 420. */
export const KNOWN_ATTRIBUTES: ReadonlySet<number> = new Set(Object.values(Attr));

/** True for comprehension-required attribute types (0x0000–0x7FFF, RFC 8489 §14). */
export const isComprehensionRequired = (type: number): boolean => type < 0x8000;

/** Error codes (RFC 8489 §14.8, RFC 8656 §18.6) with their recommended reason phrases. */
export const ErrorReason: Readonly<Record<number, string>> = {
  300: 'Try Alternate',
  400: 'Bad Request',
  401: 'Unauthenticated',
  403: 'Forbidden',
  405: 'Mobility Forbidden',
  420: 'Unknown Attribute',
  437: 'Allocation Mismatch',
  438: 'Stale Nonce',
  440: 'Address Family not Supported',
  441: 'Wrong Credentials',
  442: 'Unsupported Transport Protocol',
  443: 'Peer Address Family Mismatch',
  486: 'Allocation Quota Reached',
  500: 'Server Error',
  508: 'Insufficient Capacity',
};

/** PASSWORD-ALGORITHM values (RFC 8489 §18.5). */
export const PasswordAlgorithm = { MD5: 0x0001, SHA256: 0x0002 } as const;

/** REQUESTED-TRANSPORT protocol numbers (RFC 8656 §18.7): UDP only for allocations. */
export const TRANSPORT_UDP = 17;
/** REQUESTED-ADDRESS-FAMILY values (RFC 8656 §18.8). */
export const FAMILY_IPV4 = 0x01;
export const FAMILY_IPV6 = 0x02;
