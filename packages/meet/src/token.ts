/**
 * Access tokens from the server's dev endpoint, and human sentences for join and disconnect
 * reasons.
 */
import { ErrorCode, SignalingError } from '@dari/client';
import { randomLetters } from './dom.js';

/** The dev token endpoint is off (API keys are configured): a token must be pasted. */
export class TokenRequiredError extends Error {
  override readonly name = 'TokenRequiredError';
}

/**
 * An identity unique per tab: the display name plus a short random suffix, so two tabs with
 * the same name do not replace each other.
 */
export function makeIdentity(name: string): string {
  return `${name.slice(0, 64)}-${randomLetters(4, 'abcdefghijkmnpqrstuvwxyz23456789')}`;
}

/**
 * Gets a token from `GET /api/dev/token`.
 * @throws TokenRequiredError when the endpoint is off (404); Error otherwise
 */
export async function fetchDevToken(room: string, identity: string, name: string): Promise<string> {
  const url = new URL('/api/dev/token', location.origin);
  url.search = new URLSearchParams({ room, identity, name }).toString();
  let res: Response;
  try {
    res = await fetch(url, { headers: { accept: 'application/json' } });
  } catch {
    throw new Error('Could not reach the server to get an access token.');
  }
  const body = (await res.json().catch(() => null)) as { token?: unknown; error?: { code?: unknown; message?: unknown } } | null;
  if (res.ok && typeof body?.token === 'string') return body.token;
  const message = typeof body?.error?.message === 'string' ? body.error.message : `HTTP ${res.status}`;
  if (res.status === 404) throw new TokenRequiredError(message);
  throw new Error(`Could not get an access token: ${message}`);
}

/** A sentence for a failed `room.connect()`. */
export function describeJoinError(err: unknown): string {
  if (!(err instanceof SignalingError)) return `Could not join: ${err instanceof Error ? err.message : String(err)}`;
  switch (err.code) {
    case ErrorCode.TOKEN_EXPIRED:
      return 'The access token has expired. Get a new one and try again.';
    case ErrorCode.TOKEN_INVALID:
    case ErrorCode.TOKEN_MISSING:
      return `The access token was refused: ${err.message}`;
    case ErrorCode.ROOM_MISMATCH:
      return 'The access token is for another room.';
    case ErrorCode.ROOM_FULL:
      return 'This room is full.';
    case ErrorCode.PERMISSION_DENIED:
      return `Not allowed: ${err.message}`;
    case ErrorCode.UNSUPPORTED_VERSION:
      return 'This app is out of date for the server. Reload the page.';
    case ErrorCode.INTERNAL:
      return 'Could not connect to the server. Check your connection and try again.';
    default:
      return `Could not join (${err.code}): ${err.message}`;
  }
}

const DISCONNECT_REASONS: Record<string, string> = {
  replaced: 'You joined this room from another tab or device with the same identity, so this session was closed.',
  'server-shutdown': 'The server shut down.',
  'reconnect-failed': 'The connection to the server was lost and could not be restored.',
  'auth-failed': 'The server no longer accepts your access token.',
  'policy-violation': 'The server closed the connection after invalid messages.',
  [ErrorCode.TOKEN_EXPIRED]: 'Your access token expired while reconnecting. Join again to get a new one.',
  [ErrorCode.TOKEN_INVALID]: 'Your access token was refused while reconnecting.',
  [ErrorCode.ROOM_FULL]: 'The room filled up while you were reconnecting.',
};

/** A sentence for a `disconnected` reason; '' for a voluntary leave. */
export function describeDisconnect(reason: string): string {
  if (reason === 'left') return '';
  return DISCONNECT_REASONS[reason] ?? `You were disconnected from the room (${reason}).`;
}
