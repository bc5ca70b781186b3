/**
 * The REST call behind `dari ingress` and `dari egress`: one request to a running `dari serve`
 * with HTTP Basic (an API key and its secret, as `/api/rooms`), its JSON answer printed on
 * stdout, or its typed error (`CODE: message`) on stderr.
 */

export interface ApiRequest {
  /** Base URL of dari serve, e.g. `http://127.0.0.1:7880` (a trailing `/` is ignored). */
  server: string;
  method: 'GET' | 'POST' | 'DELETE';
  /** Path and query, e.g. `/api/egress?room=R`. */
  path: string;
  /** JSON body (POST). */
  body?: unknown;
  apiKey: string;
  apiSecret: string;
}

export interface ApiOutput {
  out: (s: string) => void;
  err: (s: string) => void;
}

/** The server flag both commands share. */
export const SERVER_FLAG = { name: 'server', value: 'URL', default: 'http://127.0.0.1:7880', help: 'base URL of dari serve' } as const;

/**
 * Sends the request and prints the outcome.
 * @param label the command and action for messages, e.g. `dari egress stop`
 * @returns the exit code: 0 on a 2xx answer, 1 when the server refuses or cannot be reached
 */
export async function runApiRequest(req: ApiRequest, label: string, io: ApiOutput): Promise<number> {
  const base = req.server.replace(/\/+$/, '');
  let res: Response;
  try {
    res = await fetch(base + req.path, {
      method: req.method,
      headers: { authorization: `Basic ${Buffer.from(`${req.apiKey}:${req.apiSecret}`).toString('base64')}`, 'content-type': 'application/json' },
      ...(req.body !== undefined && { body: JSON.stringify(req.body) }),
    });
  } catch (e) {
    io.err(`${label}: cannot reach ${base}: ${(e as Error).message}\n`);
    return 1;
  }
  const text = await res.text();
  let answer: unknown;
  try {
    answer = JSON.parse(text);
  } catch {
    answer = undefined;
  }
  if (!res.ok) {
    const error = (answer as { error?: { code?: string; message?: string } } | undefined)?.error;
    io.err(`${label}: ${error?.code ?? res.status}: ${error?.message ?? (text || res.statusText)}\n`);
    return 1;
  }
  io.out(answer === undefined ? (text.endsWith('\n') ? text : `${text}\n`) : `${JSON.stringify(answer, null, 2)}\n`);
  return 0;
}
