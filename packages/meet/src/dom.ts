/**
 * Small DOM helpers: element lookup, element creation (text only through text nodes, never
 * innerHTML with user data), inline SVG icons, toasts and formatting.
 */

/** The element with this id; throws when index.html lacks it (a bug, not a runtime condition). */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} is missing from index.html`);
  return el as T;
}

type Attrs = Record<string, string | number | boolean | undefined>;

/**
 * Creates an element. `class` sets className; `true` sets an empty attribute; `false` and
 * `undefined` are skipped. String children become text nodes.
 */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (key === 'class') el.className = String(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  el.append(...children);
  return el;
}

// Icon paths (24×24, stroke-based). Constants only: safe to parse as markup.
const ICONS = {
  mic: '<path d="M12 2a3 3 0 0 0-3 3v7a3 3 0 0 0 6 0V5a3 3 0 0 0-3-3z"/><path d="M19 10v2a7 7 0 0 1-14 0v-2"/><path d="M12 19v4M8 23h8"/>',
  micOff:
    '<path d="M1 1l22 22"/><path d="M9 9v3a3 3 0 0 0 5.12 2.12M15 9.34V5a3 3 0 0 0-5.94-.6"/><path d="M17 16.95A7 7 0 0 1 5 12v-2m14 0v2a7 7 0 0 1-.11 1.23"/><path d="M12 19v4M8 23h8"/>',
  camera: '<path d="M23 7l-7 5 7 5V7z"/><rect x="1" y="5" width="15" height="14" rx="2"/>',
  cameraOff: '<path d="M16 16v1a2 2 0 0 1-2 2H3a2 2 0 0 1-2-2V7a2 2 0 0 1 2-2h2m5.66 0H14a2 2 0 0 1 2 2v3.34l1 1L23 7v10"/><path d="M1 1l22 22"/>',
  screen: '<rect x="2" y="3" width="20" height="14" rx="2"/><path d="M8 21h8M12 17v4"/>',
  chat: '<path d="M21 15a2 2 0 0 1-2 2H7l-4 4V5a2 2 0 0 1 2-2h14a2 2 0 0 1 2 2z"/>',
  leave: '<path d="M9 21H5a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h4"/><path d="M16 17l5-5-5-5M21 12H9"/>',
  link: '<path d="M10 13a5 5 0 0 0 7.54.54l3-3a5 5 0 0 0-7.07-7.07l-1.72 1.71"/><path d="M14 11a5 5 0 0 0-7.54-.54l-3 3a5 5 0 0 0 7.07 7.07l1.71-1.71"/>',
  close: '<path d="M18 6L6 18M6 6l12 12"/>',
  info: '<circle cx="12" cy="12" r="10"/><path d="M12 16v-4M12 8h.01"/>',
  send: '<path d="M22 2L11 13"/><path d="M22 2l-7 20-4-9-9-4 20-7z"/>',
  clip: '<path d="M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48"/>',
} as const;

export type IconName = keyof typeof ICONS;

function isIconName(name: string): name is IconName {
  return Object.prototype.hasOwnProperty.call(ICONS, name);
}

/** An inline SVG icon (decorative: aria-hidden). */
export function icon(name: IconName): SVGSVGElement {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('class', 'icon');
  svg.innerHTML = ICONS[name];
  return svg;
}

/** Fills every `<span class="icon-slot" data-icon="…">` of the static markup. */
export function fillIconSlots(root: ParentNode = document): void {
  for (const slot of root.querySelectorAll<HTMLElement>('.icon-slot[data-icon]')) {
    const name = slot.dataset['icon'] ?? '';
    if (isIconName(name)) slot.replaceChildren(icon(name));
  }
}

/**
 * Sets a toggle button's state: aria-pressed, its icon and its tooltip. The aria-label stays
 * constant ("Microphone", …); aria-pressed="true" means on.
 */
export function setToggle(button: HTMLButtonElement, pressed: boolean, iconName: IconName, title: string): void {
  button.setAttribute('aria-pressed', String(pressed));
  button.title = title;
  const badge = button.querySelector('.badge');
  button.replaceChildren(icon(iconName));
  if (badge) button.append(badge);
}

/** Shows a short notification at the bottom of the screen. */
export function toast(message: string, kind: 'info' | 'error' = 'info', ms = 4000): void {
  const host = document.getElementById('toasts');
  if (!host) return;
  const item = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, message);
  host.append(item);
  while (host.childElementCount > 4) host.firstElementChild?.remove();
  setTimeout(() => item.remove(), ms);
}

/** Up to two initials of a display name, for avatars. */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? [words[0], words[words.length - 1]] : [words[0]];
  const text = letters.map((w) => (w ? [...w][0] ?? '' : '')).join('');
  return text.toUpperCase() || '?';
}

/** A stable avatar colour for an identity. */
export function avatarColor(key: string): string {
  let hash = 0;
  for (let i = 0; i < key.length; i++) hash = (hash * 31 + key.charCodeAt(i)) | 0;
  return `hsl(${Math.abs(hash) % 360} 45% 38%)`;
}

/** 1536 → "1.5 KB". */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KB', 'MB', 'GB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** Random lowercase letters from crypto.getRandomValues. */
export function randomLetters(n: number, alphabet = 'abcdefghijkmnopqrstuvwxyz'): string {
  const bytes = crypto.getRandomValues(new Uint8Array(n));
  return [...bytes].map((b) => alphabet[b % alphabet.length]).join('');
}

/** A short random room name such as `kvd-rmqe-tha`. */
export function randomRoomName(): string {
  return `${randomLetters(3)}-${randomLetters(4)}-${randomLetters(3)}`;
}
