/**
 * `dari egress start|stop|list`: the egress REST API (`/api/egress`) from the command line, with
 * HTTP Basic from `--api-key`/`--api-secret` or the config (as `dari token`). Prints the answer's
 * JSON; a refused call prints its typed error (`CODE: message`) and exits 1.
 */
import { ConfigError, apiCredentials } from '../config.js';
import { helpText, parseCommand, type CommandSpec } from '../cli-options.js';
import { SERVER_FLAG, runApiRequest } from '../cli-api.js';

export const EGRESS: CommandSpec = {
  name: 'egress',
  usage: 'dari egress start --room R [--type room-composite|track] [--format webm|mp4] [--track SID] | stop --id EG_… | list [--room R]',
  summary: 'Starts, stops and lists recordings (egress) of a running dari serve through its REST API.',
  flags: [
    SERVER_FLAG,
    { name: 'room', value: 'R', help: 'room (start: required; list: only this room)' },
    { name: 'type', value: 'T', default: 'room-composite', help: 'room-composite (the grid and the full mix) or track (one track as it arrives)' },
    { name: 'format', value: 'F', help: 'webm (VP8/Opus) or mp4 (H.264/AAC, room-composite only) (default webm)' },
    { name: 'track', value: 'SID', help: 'for --type track: the track sid (GET /api/rooms?room=R lists them)' },
    { name: 'id', value: 'EG_…', help: 'stop: the egress id' },
    { name: 'api-key', value: 'K', help: 'API key (default: the first configured key, or the dev key)' },
    { name: 'api-secret', value: 'S', help: 'its secret (default: looked up in the config)' },
    { name: 'config', value: 'FILE', help: 'YAML config file to read keys from (also DARI_CONFIG)' },
  ],
  notes: ['The API: README "Recording and MCU rooms" and docs/architecture.md.'],
};

type Values = { [K in 'server' | 'room' | 'type' | 'format' | 'track' | 'id' | 'api-key' | 'api-secret' | 'config']?: string };

/** Runs `dari egress …`. @returns the exit code */
export async function runEgress(args: string[], out: (s: string) => void = (s) => process.stdout.write(s), err: (s: string) => void = (s) => process.stderr.write(s)): Promise<number> {
  const [sub, ...rest] = args;
  const parsed = parseCommand(EGRESS, rest);
  if (parsed === 'help' || sub === '--help' || sub === '-h' || sub === undefined) {
    out(helpText(EGRESS));
    return sub === undefined ? 2 : 0;
  }
  const values = parsed as Values;
  const { apiKey, apiSecret } = apiCredentials(values);
  let method: 'GET' | 'POST' | 'DELETE' = 'GET';
  let path = '/api/egress';
  let body: unknown;
  if (sub === 'start') {
    if (!values.room) throw new ConfigError('room', 'missing --room');
    method = 'POST';
    body = { room: values.room, type: values.type ?? 'room-composite', ...(values.format && { format: values.format }), ...(values.track && { track: values.track }) };
  } else if (sub === 'stop') {
    if (!values.id) throw new ConfigError('id', 'missing --id');
    method = 'DELETE';
    path = `/api/egress/${encodeURIComponent(values.id)}`;
  } else if (sub === 'list') {
    if (values.room) path += `?room=${encodeURIComponent(values.room)}`;
  } else {
    err(`dari egress: unknown subcommand ${JSON.stringify(sub)} (start, stop, list)\n`);
    return 2;
  }
  return runApiRequest({ server: values.server ?? SERVER_FLAG.default, method, path, body, apiKey, apiSecret }, `dari egress ${sub}`, { out, err });
}
