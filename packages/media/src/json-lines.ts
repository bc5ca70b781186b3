/**
 * Splits a byte stream into lines (the worker's stdout: one JSON object per line). Sans-I/O:
 * chunks in, complete lines out. A line longer than `maxLineBytes` is dropped (and counted), so a
 * runaway worker cannot grow the parent's memory.
 */
export class LineSplitter {
  private pending = '';
  /** Lines dropped for being too long. */
  dropped = 0;

  /** @param maxLineBytes longest accepted line, characters; default 1 MiB */
  constructor(private readonly maxLineBytes = 1 << 20) {}

  /** @returns the complete lines in `chunk` (without their `\n`), empty lines skipped */
  push(chunk: string): string[] {
    const text = this.pending + chunk;
    const parts = text.split('\n');
    this.pending = parts.pop() ?? '';
    if (this.pending.length > this.maxLineBytes) {
      this.pending = '';
      this.dropped++;
    }
    const out: string[] = [];
    for (const line of parts) {
      if (line.length > this.maxLineBytes) this.dropped++;
      else if (line.trim() !== '') out.push(line);
    }
    return out;
  }
}
