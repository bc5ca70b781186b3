/**
 * Chat, OpenVidu-style: a message is a `chat` signal whose data is `{"text","name","ts"}`.
 * Messages are shown only when they come back through `signal:chat` (the server echoes
 * broadcasts to the sender too), so every participant sees the same list in the same order.
 * A private message is sent to `[target, self]`, so it is echoed the same way.
 *
 *   #chat-messages > li.chat-message[.own][.private] > .chat-meta(.chat-name, time.chat-time) + .chat-text
 *   #chat-badge: unread count while #chat is closed
 */
import type { Room, SignalIn } from '@dari/client';
import { byId, h, toast } from './dom.js';

export interface ChatPayload {
  text: string;
  name: string;
  ts: number;
}

/** Longest message text, in UTF-16 code units (the signal limit is 32 KiB). */
export const MAX_CHAT_TEXT = 2000;

/** Parses a chat signal's data; null when it is not a chat message. */
export function parseChat(data: string): ChatPayload | null {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const { text, name, ts } = value as Record<string, unknown>;
  if (typeof text !== 'string' || text.trim() === '') return null;
  return {
    text: text.slice(0, MAX_CHAT_TEXT),
    name: typeof name === 'string' ? name.slice(0, 64) : '',
    ts: typeof ts === 'number' && Number.isFinite(ts) ? ts : Date.now(),
  };
}

export class Chat {
  private readonly panel = byId('chat');
  private readonly list = byId<HTMLOListElement>('chat-messages');
  private readonly form = byId<HTMLFormElement>('chat-form');
  private readonly input = byId<HTMLInputElement>('chat-input');
  private readonly to = byId<HTMLSelectElement>('chat-to');
  private readonly badge = byId('chat-badge');
  private readonly toggleButton = byId<HTMLButtonElement>('toggle-chat');
  private room: Room | null = null;
  private unread = 0;

  constructor() {
    this.form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.send();
    });
    this.toggleButton.addEventListener('click', () => this.setOpen(!this.isOpen));
    byId('close-chat').addEventListener('click', () => this.setOpen(false));
    this.panel.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape') this.setOpen(false);
    });
  }

  get isOpen(): boolean {
    return !this.panel.hidden;
  }

  /** Starts listening to a room's chat signals. */
  attach(room: Room): void {
    this.room = room;
    room.on('signal:chat', (signal) => {
      if (this.room === room) this.receive(signal);
    });
    this.updateTargets();
  }

  /** Forgets the room and empties the panel (on leaving). */
  detach(): void {
    this.room = null;
    this.list.replaceChildren();
    this.input.value = '';
    this.setOpen(false);
    this.updateTargets();
  }

  setOpen(open: boolean): void {
    this.panel.hidden = !open;
    this.toggleButton.setAttribute('aria-pressed', String(open));
    this.toggleButton.setAttribute('aria-expanded', String(open));
    if (open) {
      this.unread = 0;
      this.renderBadge();
      this.scrollToEnd();
      // Don't pop up the on-screen keyboard on phones.
      if (!matchMedia('(pointer: coarse)').matches) this.input.focus();
    }
  }

  /** Refreshes the private-message target list from the room's participants. */
  updateTargets(): void {
    const selected = this.to.value;
    const people = this.room ? [...this.room.remoteParticipants.values()] : [];
    this.to.replaceChildren(new Option('Everyone', ''), ...people.map((p) => new Option(`${p.name || p.identity} (private)`, p.identity)));
    this.to.value = people.some((p) => p.identity === selected) ? selected : '';
    this.to.hidden = people.length === 0;
  }

  private send(): void {
    const room = this.room;
    const text = this.input.value.trim();
    if (!room || !text) return;
    const payload: ChatPayload = { text: text.slice(0, MAX_CHAT_TEXT), name: room.localParticipant.name, ts: Date.now() };
    const target = this.to.value;
    const to = target ? [target, room.localParticipant.identity] : [];
    try {
      room.sendSignal('chat', JSON.stringify(payload), to);
      this.input.value = '';
    } catch (err) {
      toast(`Message not sent: ${err instanceof Error ? err.message : String(err)}`, 'error');
    }
  }

  private receive(signal: SignalIn): void {
    const msg = parseChat(signal.data);
    if (!msg || !this.room) return;
    const room = this.room;
    const own = signal.from === room.localParticipant.identity;
    const sender = room.remoteParticipants.get(signal.from);
    // The server's participant name is authoritative; the payload's is for senders who left.
    const name = (own ? room.localParticipant.name : sender?.name) || msg.name || signal.from;
    const isPrivate = signal.to.length > 0;
    const time = new Date(msg.ts);

    const meta = h('div', { class: 'chat-meta' }, h('span', { class: 'chat-name' }, name));
    if (isPrivate) {
      const others = signal.to.filter((id) => id !== signal.from);
      const label = own ? `to ${others.map((id) => room.remoteParticipants.get(id)?.name || id).join(', ')}` : 'private';
      meta.append(h('span', { class: 'chat-private' }, label));
    }
    meta.append(h('time', { class: 'chat-time', datetime: time.toISOString() }, time.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })));
    const item = h(
      'li',
      { class: `chat-message${own ? ' own' : ''}${isPrivate ? ' private' : ''}`, 'data-from': signal.from },
      meta,
      h('div', { class: 'chat-text' }, msg.text),
    );

    const atEnd = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 80;
    this.list.append(item);
    if (atEnd || own) this.scrollToEnd();
    if (!this.isOpen && !own) {
      this.unread++;
      this.renderBadge();
    }
  }

  private scrollToEnd(): void {
    this.list.scrollTop = this.list.scrollHeight;
  }

  private renderBadge(): void {
    this.badge.textContent = this.unread > 99 ? '99+' : String(this.unread);
    this.badge.hidden = this.unread === 0;
    this.toggleButton.classList.toggle('has-unread', this.unread > 0);
  }
}
