/**
 * A TCP load balancer for scale-out tests, like one in front of a cluster: each new connection
 * goes to the next backend in turn that accepts it (a dead backend is skipped), bytes are piped
 * both ways. Loopback only.
 */
import { createConnection, createServer, type Socket } from 'node:net';

export interface Balancer {
  port: number;
  /** http://127.0.0.1:<port> */
  url: string;
  /** Backend ports each new connection went to, in order. */
  picks: number[];
  close(): Promise<void>;
}

/** @param backends the backend ports, read for every new connection */
export async function startTcpBalancer(backends: () => number[]): Promise<Balancer> {
  let next = 0;
  const picks: number[] = [];
  const sockets = new Set<Socket>();
  const connect = (client: Socket, tried: number): void => {
    const ports = backends();
    if (tried >= ports.length) {
      client.destroy();
      return;
    }
    const port = ports[next++ % ports.length]!;
    const upstream = createConnection({ host: '127.0.0.1', port });
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      picks.push(port);
      sockets.add(upstream);
      upstream.once('close', () => sockets.delete(upstream));
      client.pipe(upstream).pipe(client);
      client.resume();
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
      client.once('close', () => upstream.destroy());
    });
    upstream.once('error', () => {
      if (!connected) connect(client, tried + 1);
    });
  };
  const server = createServer({ pauseOnConnect: true }, (client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    connect(client, 0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    picks,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
