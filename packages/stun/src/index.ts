/**
 * @dari/stun: STUN/TURN codec (RFC 8489, RFC 8656, RFC 5780) and the sans-I/O TURN server.
 * No sockets here; the Node adapters live in @dari/server.
 */
export * from './constants.js';
export * from './message.js';
export * from './attributes.js';
export * from './channel-data.js';
export * from './credentials.js';
export * from './peer-policy.js';
export * from './turn-actions.js';
export * from './allocation-ledger.js';
export * from './turn-server.js';
export { crc32 } from './crc32.js';
