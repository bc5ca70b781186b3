#!/usr/bin/env node
/**
 * One bot process of bench/sfu/run.mjs, driven over the IPC channel of `child_process.fork`.
 * It holds either the publisher or a share of the subscribers, for Dari (dari-bot.mjs) or Janus
 * (janus-bot.mjs), so the server's CPU can be read on its own and the bots' CPU too.
 *
 * Requests `{id, op, ...}`, answers `{id, ok, result | error}`:
 *   publish        {system, url, httpUrl, room, media}        → {feedId?}
 *   subscribe      {system, url, httpUrl, room, feedId, count, first, batch, batchTimeoutMs, deadlineMs}
 *                  → {connected, failed, errors, rampMs}
 *   flowing        {timeoutMs}   → {streams, flowing} (waits until every stream received in the last second)
 *   window         {t0, t1}      → {} (counts packets sent/received in [t0, t1))
 *   report         {}            → {streams: [...], latency, publisher?, errors}
 *   pause          {}            → {} (the publisher stops sending; connections stay)
 *   close          {}            → {} then exits
 * The process exits by itself if the parent goes away.
 */
import { DariBot, devToken } from './dari-bot.mjs';
import { JanusSession, createRoom, publishSynthetic, subscribe } from './janus-bot.mjs';
import { LatencyHistogram, nowMs } from './media.mjs';
import { disableWeriftDefaultStun } from './rtc.mjs';

// werift would otherwise look up stun.l.google.com for every connection, iceServers: [] or not.
disableWeriftDefaultStun();

if (!process.send) throw new Error('bot-process.mjs is run by bench/sfu/run.mjs (fork with IPC)');
process.on('disconnect', () => process.exit(0));

const latency = new LatencyHistogram();
const state = {
  publisher: null, // SyntheticPublisher
  dariBots: [],
  janus: null, // JanusSession
  subscriptions: [], // {streams, pc}
  window: null,
  errors: [],
};

/** Receive stats of the subscribers that connected (failed ones are counted by `subscribe`). */
const streams = () => (state.dariBots.length ? state.dariBots.filter((b) => b.subscribed).flatMap((b) => b.streams) : state.subscriptions.flatMap((s) => s.streams));
const sample = (arr, n = 5) => [...new Set(arr)].slice(0, n);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` over `count` items, `batch` at a time, each batch bounded by `batchTimeoutMs`. */
async function inBatches(count, batch, batchTimeoutMs, deadline, fn) {
  const results = [];
  for (let i = 0; i < count; i += batch) {
    if (Date.now() > deadline) {
      for (let j = i; j < count; j++) results.push({ ok: false, error: 'ramp deadline passed' });
      break;
    }
    const jobs = [];
    for (let j = i; j < Math.min(count, i + batch); j++) {
      jobs.push(
        Promise.race([
          fn(j).then(() => ({ ok: true })),
          sleep(batchTimeoutMs).then(() => {
            throw new Error(`not connected within ${batchTimeoutMs} ms`);
          }),
        ]).catch((err) => ({ ok: false, error: err.message })),
      );
    }
    results.push(...(await Promise.all(jobs)));
  }
  return results;
}

const ops = {
  async publish({ system, url, httpUrl, room, media, timeoutMs = 20_000 }) {
    if (system === 'dari') {
      const bot = new DariBot({ url, token: await devToken(httpUrl, room, 'publisher'), latency });
      state.dariPublisher = bot;
      await bot.connect(timeoutMs);
      state.publisher = await bot.publish({ media, timeoutMs });
      return {};
    }
    state.janus = await JanusSession.open(url, timeoutMs);
    await createRoom(state.janus, room);
    const pub = await publishSynthetic(state.janus, room, { media, timeoutMs });
    state.publisher = pub.media;
    return { feedId: pub.feedId };
  },

  async subscribe({ system, url, httpUrl, room, feedId, count, first = 0, batch = 10, batchTimeoutMs = 20_000, deadlineMs = 240_000 }) {
    const start = Date.now();
    const deadline = start + deadlineMs;
    let results;
    if (system === 'dari') {
      results = await inBatches(count, batch, batchTimeoutMs, deadline, async (j) => {
        const bot = new DariBot({ url, token: await devToken(httpUrl, room, `sub-${first + j}`), latency });
        state.dariBots.push(bot);
        try {
          await bot.connect(batchTimeoutMs);
          await bot.subscriberConnected(batchTimeoutMs);
        } catch (err) {
          void bot.close(); // a failed subscriber leaves the room
          throw err;
        }
      });
    } else {
      if (!state.janus) state.janus = await JanusSession.open(url);
      results = await inBatches(count, batch, batchTimeoutMs, deadline, async () => {
        const sub = await subscribe(state.janus, room, feedId, { latency, timeoutMs: batchTimeoutMs });
        state.subscriptions.push(sub);
      });
    }
    const failed = results.filter((r) => !r.ok);
    return { connected: results.length - failed.length, failed: failed.length, errors: sample(failed.map((r) => r.error)), rampMs: Date.now() - start };
  },

  async flowing({ timeoutMs = 15_000, expectedStreams }) {
    const deadline = Date.now() + timeoutMs;
    const count = () => {
      const t = nowMs();
      return streams().filter((s) => s.lastAt !== null && t - s.lastAt < 1000).length;
    };
    while (Date.now() < deadline) {
      if (streams().length >= expectedStreams && count() >= expectedStreams) break;
      await sleep(100);
    }
    return { streams: streams().length, flowing: count() };
  },

  async window({ t0, t1 }) {
    state.window = { t0, t1 };
    state.publisher?.setWindow(t0, t1);
    for (const s of streams()) s.reset({ t0, t1 });
    return {};
  },

  /** Stops the synthetic publisher (the connections stay up): for the idle-cost measurement. */
  async pause() {
    state.publisher?.stop();
    return {};
  },

  async report() {
    const botErrors = [...state.dariBots.flatMap((b) => b.errors), ...(state.dariPublisher?.errors ?? []), ...(state.janus?.errors ?? [])];
    const janusEvents = state.subscriptions.flatMap((s) => s.handle.events).filter((e) => e?.janus === 'hangup' || e?.janus === 'slowlink');
    return {
      streams: streams().map((s) => s.summary(null)),
      latency: latency.toJSON(),
      publisher: state.publisher ? { windowCounts: state.publisher.windowCounts, stats: state.publisher.stats } : null,
      errors: sample([...state.errors, ...botErrors, ...janusEvents.map((e) => JSON.stringify(e))], 8),
    };
  },

  async close() {
    state.publisher?.stop();
    const closing = [...state.dariBots.map((b) => b.close()), state.dariPublisher?.close(), ...state.subscriptions.map((s) => s.pc.close())];
    await Promise.race([Promise.allSettled(closing), sleep(5000)]);
    await Promise.race([state.janus?.close(), sleep(2000)]);
    setTimeout(() => process.exit(0), 50);
    return {};
  },
};

process.on('message', async (msg) => {
  const { id, op, ...args } = msg;
  try {
    const result = await ops[op](args);
    process.send({ id, ok: true, result });
  } catch (err) {
    process.send({ id, ok: false, error: err?.message ?? String(err) });
  }
});
process.on('unhandledRejection', (err) => state.errors.push(`unhandled: ${err?.message ?? err}`));
process.on('uncaughtException', (err) => state.errors.push(`uncaught: ${err?.message ?? err}`));
process.send({ ready: true });
