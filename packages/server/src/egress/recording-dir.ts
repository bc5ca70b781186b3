/** Where recordings go unless `recording.dir` says: `$XDG_DATA_HOME/dari/recordings` (default ~/.local/share). */
import { homedir } from 'node:os';
import { join } from 'node:path';

export function defaultRecordingDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env['XDG_DATA_HOME'] || join(env['HOME'] || homedir(), '.local', 'share');
  return join(base, 'dari', 'recordings');
}
