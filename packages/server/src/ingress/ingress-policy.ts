/**
 * The pure rules of RTSP ingest: which camera URLs are taken, how they appear in logs and the API
 * (credentials never), and when a camera that fails is tried again. Strings and counts in,
 * verdicts out; the I/O is ingress-manager.ts.
 */

/** A refused ingress request: HTTP status and a message naming the field. */
export class IngressError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Longest camera URL accepted, characters. */
export const MAX_URL_LENGTH = 2048;

/**
 * Checks a camera URL: `rtsp:` or `rtsps:` (RFC 7826 §19.2), a host, at most
 * {@link MAX_URL_LENGTH} characters, no whitespace or control characters. The URL only ever
 * becomes the `location` property of GStreamer's rtspsrc, never part of a pipeline description.
 * @returns the URL as given, and its {@link redactUrl redacted} form for logs and the API
 * @throws IngressError 400 naming `url`
 */
export function parseCameraUrl(raw: unknown): { url: string; redacted: string } {
  if (typeof raw !== 'string' || raw.length === 0) throw new IngressError(400, 'INVALID_REQUEST', 'url: a string is required');
  if (raw.length > MAX_URL_LENGTH) throw new IngressError(400, 'INVALID_REQUEST', `url: longer than ${MAX_URL_LENGTH} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\s\u0000-\u001f\u007f]/.test(raw)) throw new IngressError(400, 'INVALID_REQUEST', 'url: whitespace or control characters');
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new IngressError(400, 'INVALID_REQUEST', 'url: not a URL');
  }
  if (u.protocol !== 'rtsp:' && u.protocol !== 'rtsps:') throw new IngressError(400, 'INVALID_REQUEST', `url: only rtsp: and rtsps: URLs are accepted, not ${u.protocol}`);
  if (!u.hostname) throw new IngressError(400, 'INVALID_REQUEST', 'url: no host');
  return { url: raw, redacted: redactUrl(raw) };
}

/** Query parameters that carry credentials in many IP cameras' URLs (`?user=admin&password=…`). */
const SECRET_PARAM = /pass|pwd|token|key|auth|user|secret|sig/i;

/**
 * The URL with any user name and password, and the values of credential-like query parameters
 * ({@link SECRET_PARAM}), replaced by `***` (for logs, errors and the API).
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    const params = [...u.searchParams.keys()].filter((k) => SECRET_PARAM.test(k));
    if (!u.username && !u.password && params.length === 0) return url;
    if (u.username || u.password) {
      u.username = '***';
      u.password = '';
    }
    for (const k of params) u.searchParams.set(k, '***');
    return u.toString().replace(/%2A%2A%2A/g, '***');
  } catch {
    return '(invalid url)';
  }
}

/** Removes secrets (the raw URL, its password, credential-like query values) from a message a worker reported. */
export function scrub(message: string, url: string): string {
  let out = message.split(url).join(redactUrl(url));
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return out; // parseCameraUrl checked it
  }
  const secrets = [u.password, ...[...u.searchParams].filter(([k]) => SECRET_PARAM.test(k)).map(([, v]) => v)];
  for (const raw of secrets) {
    let decoded = raw;
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      /* malformed escapes: the raw form is scrubbed */
    }
    for (const secret of new Set([raw, decoded])) if (secret.length > 0) out = out.split(secret).join('***');
  }
  return out;
}

/** Reconnect policy of a camera. */
export interface RetryOptions {
  /** First delay, ms. Default 500. */
  initialDelayMs: number;
  /** Longest delay, ms. Default 10,000. */
  maxDelayMs: number;
  /** Failures in a row without media before the ingress ends `failed`. Default 5. */
  maxAttempts: number;
}

export const DEFAULT_RETRY: RetryOptions = Object.freeze({ initialDelayMs: 500, maxDelayMs: 10_000, maxAttempts: 5 });

/**
 * What to do after the pull failed (`failures` in a row without media, counting this one):
 * try again after a delay that doubles each time (capped), or give up.
 */
export function nextAttempt(failures: number, options: RetryOptions = DEFAULT_RETRY): { retryInMs: number } | 'give-up' {
  if (failures >= options.maxAttempts) return 'give-up';
  return { retryInMs: Math.min(options.maxDelayMs, options.initialDelayMs * 2 ** Math.max(0, failures - 1)) };
}
