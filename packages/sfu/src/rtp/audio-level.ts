/**
 * The RFC 6464 client-to-mixer audio level header extension: which URI to negotiate and how to
 * read it, from wire bytes or from an element an RTP stack already parsed.
 *
 * RFC 6464 §3, the extension element's one data byte:
 * ```
 *  0 1 2 3 4 5 6 7
 * +-+-+-+-+-+-+-+-+
 * |V|    level    |     V: voice activity; level: 0..127, the audio level in -dBov
 * +-+-+-+-+-+-+-+-+        (0 = 0 dBov, the loudest; 127 = -127 dBov or quieter, silence)
 * ```
 */
import { findRtpHeaderExtension } from './rtp-header.js';

/** The header extension URI to negotiate on audio m-lines (RFC 6464 §4, a=extmap). */
export const AUDIO_LEVEL_URI = 'urn:ietf:params:rtp-hdrext:ssrc-audio-level';

/** The audio level carried by one packet (RFC 6464 §3). */
export interface AudioLevel {
  /** 0..127: the level in -dBov (0 = loudest, 127 = silence). */
  level: number;
  /** The V bit: the sender's voice activity detector heard voice. */
  voice: boolean;
}

/**
 * Reads the RFC 6464 audio level of an RTP packet from its header extension (RFC 3550 §5.3.1),
 * in the one-byte or the two-byte form (RFC 8285 §4.2–§4.3). Never throws.
 * @param packet an SRTP-decrypted RTP packet, header included
 * @param extensionId the id negotiated for {@link AUDIO_LEVEL_URI} (1–14 in the one-byte form, 1–255 in the two-byte form)
 * @returns the level, or undefined when the packet is malformed or carries no such element
 */
export function readAudioLevel(packet: Uint8Array, extensionId: number): AudioLevel | undefined {
  const data = findRtpHeaderExtension(packet, extensionId);
  return data ? decodeAudioLevel(data) : undefined;
}

/**
 * Decodes the data of an audio level element (RFC 6464 §3), e.g. one werift already parsed
 * (`rtp.header.extensions`). Never throws.
 * @returns the level, or undefined when `data` is empty
 */
export function decodeAudioLevel(data: Uint8Array): AudioLevel | undefined {
  if (data.length < 1) return undefined;
  const b = data[0]!;
  return { level: b & 0x7f, voice: (b & 0x80) !== 0 };
}

