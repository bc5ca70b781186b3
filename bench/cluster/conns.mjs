#!/usr/bin/env node
/**
 * Connection holder for bench/cluster's memory phase, one process per 10,000 sockets (a process
 * may hold at most `ulimit -Hn` descriptors, 20,000 here): opens `count` Dari clients, client i
 * (global index start + i) joining room m<⌊i/10⌋> through urls[i mod urls.length]; prints
 * `READY {joined, failures, seconds}` and holds them until its stdin closes.
 *
 *   node bench/cluster/conns.mjs '{"urls":["ws://127.0.0.1:7880/rtc"],"start":0,"count":10000}'
 */
import { connectAll, openDari, closeAll } from '../signaling/clients.mjs';
import { mintToken, DEV_API_KEY, DEV_API_SECRET } from '../../packages/server/dist/src/index.js';

const { urls, start, count } = JSON.parse(process.argv[2]);
const specs = [];
for (let k = 0; k < count; k++) {
  const i = start + k;
  specs.push({ room: `m${Math.floor(i / 10)}`, identity: `u${i}`, url: urls[i % urls.length] });
}
await Promise.all(specs.map(async (s) => (s.token = await mintToken({ apiKey: DEV_API_KEY, apiSecret: DEV_API_SECRET, room: s.room, identity: s.identity }))));
process.stdout.write('TOKENS\n');
await new Promise((resolve) => process.stdin.once('data', resolve)); // "go"
const conn = await connectAll((s) => openDari(s.url, s), specs);
process.stdout.write(`READY ${JSON.stringify({ joined: conn.clients.length, failures: conn.failures, seconds: conn.seconds })}\n`);
process.stdin.on('end', () => {
  closeAll(conn.clients);
  process.exit(0);
});
process.stdin.resume();
