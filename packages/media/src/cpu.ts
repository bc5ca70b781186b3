/** CPU time of a process from /proc (Linux), for per-worker CPU metrics and benchmarks. */
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ: 100 on Linux on every arch Dari runs on). */
const USER_HZ = 100;

/**
 * User + system CPU seconds the process has used (proc(5), fields 14 utime and 15 stime).
 * @returns null when the process is gone or /proc is unavailable
 */
export function processCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) / USER_HZ : null;
  } catch {
    return null;
  }
}
