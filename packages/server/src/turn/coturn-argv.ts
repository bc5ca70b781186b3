/**
 * coturn's two input forms to option entries: the command line (getopt_long rules, exact long
 * names, short aliases) and `turnserver.conf` lines. Names are checked against the option table
 * here (unknown and unsupported options are refused); values are checked by coturn-values.ts.
 */
import { BY_LONG, BY_SHORT, TurnOptionError, display, type OptionSpec } from './coturn-option-table.js';

/** One option as given, with where it came from. */
export interface Entry {
  spec: OptionSpec;
  value: string | undefined;
  /** Message prefix telling where the entry came from: '' (command line) or 'path:line: '. */
  at: string;
}

function unknownLong(name: string, at: string): TurnOptionError {
  const lower = name.toLowerCase();
  const names = [...BY_LONG.keys()];
  const sameCase = names.find((n) => n.toLowerCase() === lower);
  const prefixed = names.filter((n) => n.startsWith(name));
  const hint =
    sameCase !== undefined
      ? ` (did you mean --${sameCase}? option names are case-sensitive)`
      : name.length > 0 && prefixed.length === 1
        ? ` (did you mean --${prefixed[0]}? abbreviations are not accepted)`
        : '';
  return new TurnOptionError(`--${name}`, `${at}unknown option --${name}${hint}`);
}

function refuseUnsupported(spec: OptionSpec, typed: string, at: string): void {
  if (spec.status !== 'unsupported') return;
  const shown = display(spec);
  const label = typed === shown ? shown : `${typed} (${shown})`;
  throw new TurnOptionError(shown, `${at}unsupported coturn option ${label}: ${spec.note}`);
}

/** Command-line tokens to entries (getopt_long rules, exact long names only). */
export function tokenizeArgv(argv: readonly string[]): Entry[] {
  const out: Entry[] = [];
  for (let i = 0; i < argv.length; i++) {
    const tok = argv[i]!;
    if (tok === '--') {
      const stray = argv[i + 1];
      if (stray !== undefined) throw new TurnOptionError(stray, `unexpected argument ${JSON.stringify(stray)}: dari turn takes options only`);
      break;
    }
    if (tok.startsWith('--')) {
      const eq = tok.indexOf('=');
      const name = eq >= 0 ? tok.slice(2, eq) : tok.slice(2);
      let value = eq >= 0 ? tok.slice(eq + 1) : undefined;
      const spec = BY_LONG.get(name);
      if (spec === undefined) throw unknownLong(name, '');
      refuseUnsupported(spec, `--${name}`, '');
      if (value === undefined && spec.arg === 'required') {
        value = argv[++i];
        if (value === undefined) throw new TurnOptionError(display(spec), `${display(spec)} needs a value`);
      } else if (value === undefined && spec.arg === 'optional' && /^\d+$/.test(argv[i + 1] ?? '')) {
        value = argv[++i];
      }
      out.push({ spec, value, at: '' });
      continue;
    }
    if (tok.startsWith('-') && tok.length > 1) {
      for (let j = 1; j < tok.length; j++) {
        const letter = tok[j]!;
        const spec = BY_SHORT.get(letter);
        if (spec === undefined) throw new TurnOptionError(`-${letter}`, `unknown option -${letter}`);
        refuseUnsupported(spec, `-${letter}`, '');
        if (spec.arg !== 'required') {
          out.push({ spec, value: undefined, at: '' });
          continue;
        }
        let value: string | undefined = tok.slice(j + 1);
        if (value === '') {
          value = argv[++i];
          if (value === undefined) throw new TurnOptionError(display(spec), `-${letter} (${display(spec)}) needs a value`);
        } else if (value.startsWith('=')) {
          throw new TurnOptionError(display(spec), `-${letter}${value}: a short option takes its value as -${letter} ${value.slice(1)} (or use ${display(spec)}${value})`);
        }
        out.push({ spec, value, at: '' });
        break;
      }
      continue;
    }
    const prev = out[out.length - 1];
    const hint = prev !== undefined && prev.value === undefined && prev.spec.arg !== 'required' ? ` (${display(prev.spec)} takes a value only as ${display(prev.spec)}=${tok})` : '';
    throw new TurnOptionError(tok, `unexpected argument ${JSON.stringify(tok)}${hint}`);
  }
  return out;
}

interface FileEntry {
  name: string;
  value: string | undefined;
  line: number;
}

/** turnserver.conf lines to raw entries; names are checked against the table, values are not. */
export function readConfigLines(text: string, path: string): (FileEntry & { spec: OptionSpec })[] {
  const out: (FileEntry & { spec: OptionSpec })[] = [];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const at = `${path}:${n + 1}: `;
    // coturn: leading blanks skipped, '#' only starts a comment as the first character, trailing blanks stripped.
    const line = lines[n]!.replace(/^[ \t]+/, '').replace(/\s+$/, '');
    if (line === '' || line.startsWith('#')) continue;
    // coturn: the name ends at the first space, tab or '='; any run of them separates the value.
    const m = /^([^ \t=]+)(?:[ \t=]+(.*))?$/.exec(line);
    const name = m?.[1] ?? line;
    let value: string | undefined = m?.[2];
    if (value === '') value = undefined;
    if (value !== undefined && value.startsWith('"')) {
      value = value.slice(1);
      if (value.endsWith('"')) value = value.slice(0, -1);
    }
    if (name.startsWith('-')) {
      const bare = name.replace(/^-+/, '');
      throw new TurnOptionError(`--${bare}`, `${at}--${bare}: option names in a config file have no leading dashes: write ${bare}`);
    }
    const spec = BY_LONG.get(name);
    if (spec === undefined) throw unknownLong(name, at);
    refuseUnsupported(spec, `--${name}`, at);
    if (name === 'conf-file' || name === 'help' || name === 'version') {
      throw new TurnOptionError(display(spec), `${at}${display(spec)} is only valid on the command line`);
    }
    if (spec.arg === 'required' && value === undefined) throw new TurnOptionError(display(spec), `${at}${display(spec)} needs a value`);
    out.push({ name, value, line: n + 1, spec });
  }
  return out;
}

/**
 * Parses coturn's config file format (`turnserver.conf`): one option per line as `name=value`,
 * `name value` or a bare `name` for flags; the name is a long option name without dashes
 * (case-sensitive, as in coturn); a line whose first non-blank character is `#` is a comment (a
 * `#` later in a line belongs to the value, so passwords may contain it); blank lines are skipped;
 * a value wrapped in double quotes loses the quotes. Values are returned raw; parseTurnArgs
 * validates them.
 * @param text the file content
 * @param path the file name, used in messages only
 * @returns `[name, value]` pairs in file order; value is undefined for a bare name
 * @throws TurnOptionError naming the line (`path:line:`) and the option, for an unknown name,
 *   an unsupported coturn option, a missing required value, or a command-line-only option
 *   (`conf-file`, `help`, `version`)
 */
export function parseTurnConfigFile(text: string, path: string): [string, string | undefined][] {
  return readConfigLines(text, path).map((e) => [e.name, e.value]);
}
