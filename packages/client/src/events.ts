/**
 * A minimal typed event emitter: `on<K extends keyof Events>`. A listener that throws never
 * breaks the emitter or the other listeners: its exception goes to {@link TypedEmitter.listenerFailed}
 * (console.error unless a subclass routes it, as `Room` does to its `error` event).
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Listener = (...args: any[]) => void;

export class TypedEmitter<Events extends { [K in keyof Events]: Listener }> {
  private readonly listeners = new Map<keyof Events, Set<Listener>>();

  on<K extends keyof Events>(event: K, listener: Events[K]): this {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return this;
  }

  once<K extends keyof Events>(event: K, listener: Events[K]): this {
    const wrapped = ((...args: unknown[]) => {
      this.off(event, wrapped as Events[K]);
      (listener as Listener)(...args);
    }) as Events[K];
    return this.on(event, wrapped);
  }

  off<K extends keyof Events>(event: K, listener: Events[K]): this {
    this.listeners.get(event)?.delete(listener);
    return this;
  }

  /** @returns true when at least one listener was called */
  protected emit<K extends keyof Events>(event: K, ...args: Parameters<Events[K]>): boolean {
    const set = this.listeners.get(event);
    if (!set || set.size === 0) return false;
    for (const listener of [...set]) {
      try {
        listener(...args);
      } catch (err) {
        this.listenerFailed(String(event), err);
      }
    }
    return true;
  }

  /** A listener of `event` threw `error`. Default: console.error. Must not throw. */
  protected listenerFailed(event: string, error: unknown): void {
    console.error(`[dari] listener for ${event} threw`, error);
  }
}
