/**
 * P2P file transfer UI: pick a participant (`#file-target`) and a file (`#file-input`), one
 * `<li class="transfer">` per transfer in `#transfers`, with a `<progress>` fed by `fileProgress`
 * in both directions. A received file gets a download link and its verified SHA-256 prefix.
 *
 *   li.transfer[data-direction="send|receive"][data-state="active|done|failed"]
 *     .transfer-name, .transfer-peer, progress.transfer-progress, .transfer-status,
 *     a.transfer-download (received), code.transfer-sha
 */
import type { FileProgress, ReceivedFile, Room } from '@dari/client';
import { byId, formatBytes, h, toast } from './dom.js';

class TransferItem {
  readonly root: HTMLLIElement;
  private readonly progress = h('progress', { class: 'transfer-progress', max: 1, value: 0 });
  private readonly status = h('div', { class: 'transfer-status' });
  private finished = false;

  constructor(
    readonly name: string,
    readonly size: number,
    readonly direction: 'send' | 'receive',
    readonly peer: string,
    peerName: string,
  ) {
    this.root = h(
      'li',
      { class: 'transfer', 'data-direction': direction, 'data-state': 'active' },
      h('div', { class: 'transfer-head' }, h('span', { class: 'transfer-name', title: name }, name), h('span', { class: 'transfer-peer' }, `${direction === 'send' ? 'to' : 'from'} ${peerName}`)),
      this.progress,
      this.status,
    );
    this.update(0);
  }

  get done(): boolean {
    return this.finished;
  }

  update(bytes: number): void {
    if (this.finished) return;
    this.progress.max = Math.max(this.size, 1);
    this.progress.value = this.size === 0 ? 0 : Math.min(bytes, this.size);
    this.status.textContent = `${formatBytes(bytes)} of ${formatBytes(this.size)}`;
  }

  /** Transfer confirmed: `url` is a download link for received files. */
  complete(sha256: string, url?: string): void {
    this.finished = true;
    this.progress.max = 1;
    this.progress.value = 1;
    this.root.dataset['state'] = 'done';
    this.status.textContent = this.direction === 'send' ? `Sent · ${formatBytes(this.size)}` : `Received · ${formatBytes(this.size)}`;
    if (url) this.root.append(h('a', { class: 'transfer-download button', href: url, download: this.name }, 'Download'));
    this.root.append(h('code', { class: 'transfer-sha', title: `SHA-256 ${sha256}` }, `SHA-256 ${sha256.slice(0, 16)}…`));
  }

  fail(message: string): void {
    this.finished = true;
    this.root.dataset['state'] = 'failed';
    this.status.textContent = message;
    this.status.classList.add('error');
  }
}

export class Files {
  private readonly input = byId<HTMLInputElement>('file-input');
  private readonly target = byId<HTMLSelectElement>('file-target');
  private readonly pick = byId('file-pick');
  private readonly list = byId<HTMLUListElement>('transfers');
  private room: Room | null = null;
  private readonly items = new Map<string, TransferItem>();
  /** Sends whose transfer id is not known yet (it arrives with the first progress event). */
  private readonly unmatched: TransferItem[] = [];
  private readonly urls: string[] = [];

  constructor() {
    this.input.addEventListener('change', () => {
      const files = [...(this.input.files ?? [])];
      const to = this.target.value;
      this.input.value = '';
      for (const file of files) void this.send(file, to);
    });
  }

  attach(room: Room): void {
    this.room = room;
    room.on('fileProgress', (p) => this.room === room && this.onProgress(p));
    room.on('fileReceived', (f) => this.room === room && this.onReceived(f));
    room.on('fileFailed', (err, from) => this.room === room && this.onFailed(err, from));
    this.updateTargets();
  }

  /** Forgets the room, empties the list and frees the downloads (on leaving). */
  detach(): void {
    this.room = null;
    this.items.clear();
    this.unmatched.length = 0;
    this.list.replaceChildren();
    for (const url of this.urls.splice(0)) URL.revokeObjectURL(url);
    this.updateTargets();
  }

  /** Refreshes the target chooser; keeps the selection, else defaults to the first participant. */
  updateTargets(): void {
    const selected = this.target.value;
    const people = this.room ? [...this.room.remoteParticipants.values()] : [];
    this.target.replaceChildren(...people.map((p) => new Option(p.name || p.identity, p.identity)));
    if (people.length === 0) this.target.append(new Option('No one to send to', ''));
    if (people.some((p) => p.identity === selected)) this.target.value = selected;
    const none = people.length === 0;
    this.target.disabled = none;
    this.input.disabled = none;
    this.pick.setAttribute('aria-disabled', String(none));
  }

  private nameOf(identity: string): string {
    return this.room?.remoteParticipants.get(identity)?.name || identity;
  }

  private add(item: TransferItem, id?: string): TransferItem {
    if (id) this.items.set(id, item);
    this.list.prepend(item.root);
    return item;
  }

  private async send(file: File, to: string): Promise<void> {
    const room = this.room;
    if (!room || !to) return;
    const item = this.add(new TransferItem(file.name, file.size, 'send', to, this.nameOf(to)));
    this.unmatched.push(item);
    try {
      const sha256 = await room.sendFile(file, to);
      item.complete(sha256);
    } catch (err) {
      item.fail(`Failed: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      const i = this.unmatched.indexOf(item);
      if (i >= 0) this.unmatched.splice(i, 1);
    }
  }

  private onProgress(p: FileProgress): void {
    let item = this.items.get(p.id);
    if (!item && p.direction === 'send') {
      const i = this.unmatched.findIndex((t) => t.peer === p.peer && t.name === p.name && t.size === p.size);
      if (i >= 0) {
        item = this.unmatched.splice(i, 1)[0]!;
        this.items.set(p.id, item);
      }
    }
    item ??= this.add(new TransferItem(p.name, p.size, p.direction, p.peer, this.nameOf(p.peer)), p.id);
    item.update(p.bytes);
  }

  private onReceived(f: ReceivedFile): void {
    const item = this.items.get(f.id) ?? this.add(new TransferItem(f.name, f.size, 'receive', f.from, this.nameOf(f.from)), f.id);
    const url = URL.createObjectURL(f.blob);
    this.urls.push(url);
    item.complete(f.sha256, url);
    toast(`${this.nameOf(f.from)} sent you ${f.name}`);
  }

  private onFailed(err: Error, from: string): void {
    // The event carries no transfer id: blame the newest unfinished transfer from that peer.
    const item =
      [...this.items.values()].reverse().find((t) => t.direction === 'receive' && t.peer === from && !t.done) ??
      this.add(new TransferItem('File', 0, 'receive', from, this.nameOf(from)));
    item.fail(`Failed: ${err.message}`);
    toast(`A file from ${this.nameOf(from)} failed: ${err.message}`, 'error');
  }
}
