/**
 * `dari ingress add|list|remove`: the REST API of RTSP ingest (`/api/ingress`, HTTP Basic with an
 * API key and secret) from the command line. Prints the server's JSON answer; exits 1 with the
 * server's error message when it refuses.
 */
import { ConfigError, apiCredentials } from '../config.js';
import { helpText, parseCommand, type CommandSpec } from '../cli-options.js';
import { SERVER_FLAG, runApiRequest } from '../cli-api.js';

export const INGRESS: CommandSpec = {
  name: 'ingress',
  usage: 'dari ingress add --room R --url rtsp://… --identity I [--name N] | list | remove --id ID  [options]',
  summary: 'Adds, lists or removes RTSP cameras of a running server (its /api/ingress). A camera joins its\nroom as a participant of kind ingress; the URL\'s credentials are never shown back.',
  flags: [
    SERVER_FLAG,
    { name: 'room', value: 'NAME', help: 'add: the room' },
    { name: 'url', value: 'URL', help: 'add: the camera, rtsp:// or rtsps:// (user:password@ allowed)' },
    { name: 'identity', value: 'ID', help: 'add: the camera\'s identity in the room' },
    { name: 'name', value: 'TEXT', help: 'add: its display name (default the identity)' },
    { name: 'id', value: 'ID', help: 'remove: the ingress id (IN_…, from add or list)' },
    { name: 'api-key', value: 'KEY', help: 'API key (default: the first configured one, or the dev key)' },
    { name: 'api-secret', value: 'SECRET', help: 'its secret (default: from the config)' },
    { name: 'config', value: 'FILE', help: 'config file to read the API key from' },
  ],
  notes: ['Docs: docs/ingest.md.'],
};

/** Runs `dari ingress …`. @returns the exit code */
export async function runIngress(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action === undefined || action === '--help' || action === '-h' || action === 'help') {
    process.stdout.write(helpText(INGRESS));
    return action === undefined ? 2 : 0;
  }
  if (!['add', 'list', 'remove'].includes(action)) throw new ConfigError('ingress', `unknown action ${JSON.stringify(action)}: add, list or remove`);
  const parsed = parseCommand(INGRESS, rest);
  if (parsed === 'help') {
    process.stdout.write(helpText(INGRESS));
    return 0;
  }
  const v = parsed as { [K in 'server' | 'room' | 'url' | 'identity' | 'name' | 'id' | 'api-key' | 'api-secret' | 'config']?: string };
  const { apiKey, apiSecret } = apiCredentials(v);
  let method: 'GET' | 'POST' | 'DELETE' = 'GET';
  let path = '/api/ingress';
  let body: unknown;
  if (action === 'add') {
    for (const k of ['room', 'url', 'identity'] as const) if (!v[k]) throw new ConfigError(k, `missing --${k}`);
    method = 'POST';
    body = { room: v.room, url: v.url, identity: v.identity, ...(v.name !== undefined ? { name: v.name } : {}) };
  } else if (action === 'remove') {
    if (!v.id) throw new ConfigError('id', 'missing --id');
    method = 'DELETE';
    path = `/api/ingress/${encodeURIComponent(v.id)}`;
  }
  return runApiRequest({ server: v.server ?? SERVER_FLAG.default, method, path, body, apiKey, apiSecret }, `dari ingress ${action}`, {
    out: (t) => process.stdout.write(t),
    err: (t) => process.stderr.write(t),
  });
}
