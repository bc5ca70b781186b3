/**
 * Access tokens: JWTs signed with HS256 (RFC 7518 §3.2) by an API secret, verified with jose.
 * Claims are {@link TokenClaims} (LiveKit-shaped: `iss` = API key, `sub` = identity).
 */
import { SignJWT, jwtVerify, errors as joseErrors, decodeProtectedHeader } from 'jose';
import { ErrorCode, SignalingError, TokenClaims, type Grants } from '@dari/protocol';

/** The fixed development key pair used when no keys are configured (like `livekit-server --dev`). */
export const DEV_API_KEY = 'devkey';
export const DEV_API_SECRET = 'dari-dev-secret-not-for-production-use';

/** Shortest API secret accepted, in characters (HS256 wants ≥ 256 bits of key). */
export const MIN_SECRET_LENGTH = 32;

export interface MintOptions {
  apiKey: string;
  apiSecret: string;
  room: string;
  identity: string;
  name?: string | undefined;
  metadata?: string | undefined;
  /** Lifetime in s; default 21600 (6 h, LiveKit's default). */
  ttlS?: number | undefined;
  grants?: { [K in keyof Grants]?: boolean | undefined } | undefined;
  /** Issue time in ms since the epoch; default Date.now(). */
  now?: number | undefined;
}

/**
 * Mints a join token.
 * @returns the compact JWS
 * @throws RangeError when ttlS is not a positive number
 */
export async function mintToken(opts: MintOptions): Promise<string> {
  const ttlS = opts.ttlS ?? 21600;
  if (!(ttlS > 0) || !Number.isFinite(ttlS)) throw new RangeError(`ttl must be a positive number of seconds, got ${ttlS}`);
  const nowS = Math.floor((opts.now ?? Date.now()) / 1000);
  const claims: Record<string, unknown> = { room: opts.room };
  if (opts.name !== undefined) claims['name'] = opts.name;
  if (opts.metadata !== undefined) claims['metadata'] = opts.metadata;
  if (opts.grants !== undefined) claims['grants'] = opts.grants;
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(opts.apiKey)
    .setSubject(opts.identity)
    .setIssuedAt(nowS)
    .setNotBefore(nowS - 10)
    .setExpirationTime(nowS + Math.round(ttlS))
    .sign(new TextEncoder().encode(opts.apiSecret));
}

/**
 * Verifies a join token against the configured keys.
 * @param keys API key → secret
 * @param now current time, ms since the epoch (injected for tests)
 * @returns the validated claims
 * @throws SignalingError TOKEN_MISSING, TOKEN_EXPIRED or TOKEN_INVALID
 */
export async function verifyToken(token: string | undefined, keys: ReadonlyMap<string, string>, now: number = Date.now()): Promise<TokenClaims> {
  if (!token) throw new SignalingError(ErrorCode.TOKEN_MISSING, 'no access token given');
  let iss: unknown;
  try {
    const header = decodeProtectedHeader(token);
    if (header.alg !== 'HS256') throw new Error(`alg ${String(header.alg)} not allowed`);
    const payloadPart = token.split('.')[1] ?? '';
    iss = JSON.parse(Buffer.from(payloadPart, 'base64url').toString('utf8'))?.iss;
  } catch (err) {
    throw new SignalingError(ErrorCode.TOKEN_INVALID, `malformed token: ${(err as Error).message}`, undefined, { cause: err });
  }
  const secret = typeof iss === 'string' ? keys.get(iss) : undefined;
  if (secret === undefined) throw new SignalingError(ErrorCode.TOKEN_INVALID, `token issuer ${JSON.stringify(iss)} is not a known API key`);
  let payload: unknown;
  try {
    ({ payload } = await jwtVerify(token, new TextEncoder().encode(secret), {
      algorithms: ['HS256'],
      currentDate: new Date(now),
      requiredClaims: ['exp', 'sub'],
    }));
  } catch (err) {
    if (err instanceof joseErrors.JWTExpired) throw new SignalingError(ErrorCode.TOKEN_EXPIRED, 'token has expired', undefined, { cause: err });
    throw new SignalingError(ErrorCode.TOKEN_INVALID, `token rejected: ${(err as Error).message}`, undefined, { cause: err });
  }
  const claims = TokenClaims.safeParse(payload);
  if (!claims.success) {
    const issue = claims.error.issues[0];
    throw new SignalingError(ErrorCode.TOKEN_INVALID, `token claims invalid at ${issue?.path.join('.') ?? '?'}: ${issue?.message ?? ''}`);
  }
  return claims.data;
}

/**
 * Parses a duration such as `90`, `90s`, `30m`, `1h`, `2d`.
 * @returns seconds
 * @throws RangeError naming the bad text
 */
export function parseDurationS(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)?$/.exec(text.trim());
  if (!m) throw new RangeError(`bad duration ${JSON.stringify(text)}; use e.g. 90s, 30m, 1h, 2d`);
  const n = Number(m[1]);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  const s = n * unit;
  if (!(s > 0)) throw new RangeError(`duration must be positive, got ${JSON.stringify(text)}`);
  return s;
}
