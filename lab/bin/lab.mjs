#!/usr/bin/env node
// Manual use of the NAT lab (root): `node lab/bin/lab.mjs up` builds the topology and starts
// `dari serve` in it, prints the namespaces, and tears everything down on Ctrl-C;
// `node lab/bin/lab.mjs sweep` removes namespaces a crashed run left behind.
// Build first: npm run build.
import { Lab, buildTopology, labUnavailable, startDari, sweepStaleLabs } from '../dist/src/index.js';

const cmd = process.argv[2];
const why = labUnavailable();
if (why) {
  console.error(`lab: ${why}`);
  process.exit(2);
}
if (cmd === 'sweep') {
  console.log(`removed: ${sweepStaleLabs().join(' ') || 'nothing'}`);
} else if (cmd === 'up') {
  const lab = new Lab();
  const stop = () => {
    lab.destroy();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  try {
    const t = buildTopology(lab);
    await startDari(lab, t.server);
    console.log(`dari serve: http://203.0.113.10:7880 in ${t.server.ns}`);
    for (const h of Object.values(t.hosts)) console.log(`${h.name.padEnd(6)} ${h.ns.padEnd(14)} ${h.ip.padEnd(14)} ${h.nat ?? 'public'}${h.publicIp ? ` via ${h.publicIp}` : ''}`);
    console.log('try: ip netns exec <ns> node packages/server/bin/dari.js nat-check --stun 203.0.113.10:3478');
    console.log('Ctrl-C tears it all down.');
  } catch (err) {
    console.error(err);
    stop();
  }
} else {
  console.error('usage: node lab/bin/lab.mjs up|sweep');
  process.exit(2);
}
