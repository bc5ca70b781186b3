/**
 * Launches the PeerJS server (npm `peer` v1, defaults otherwise) on a free loopback port and
 * prints one JSON "ready" line with its WebSocket endpoint, like `dari serve` does.
 * With `path: '/'` peer serves WebSocket clients at /peerjs?key=peerjs&id=ID&token=T.
 */
import { PeerServer } from 'peer';

PeerServer({ host: '127.0.0.1', port: 0, path: '/' }, (server) => {
  const { port } = server.address();
  console.log(JSON.stringify({ level: 30, msg: 'ready', ws: `ws://127.0.0.1:${port}/peerjs` }));
});
process.once('SIGTERM', () => process.exit(0));
