/**
 * `dari turn` against coturn's own clients (Debian's coturn package): turnutils_stunclient,
 * turnutils_uclient relaying to turnutils_peer in every mode, turnutils_natdiscovery (RFC 5780),
 * plus the peer-policy refusals over real sockets.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { Attr, MessageBuilder, Method, decodeMessage, getAttribute, readErrorCode, writeRequestedTransport, writeString, writeXorAddress, longTermKey, nodeHmac, readString } from '@dari/stun';
import { freeUdpPort, metric, run, startPeer, startTurn, type TurnProcess } from './turn-process.js';

let peer: { port: number; stop(): void };
before(async () => {
  peer = await startPeer();
});
after(() => peer?.stop());

async function withTurn(args: string[], fn: (t: TurnProcess, metricsUrl: string) => Promise<void>, port = 0): Promise<void> {
  const promPort = await freeUdpPort();
  const t = await startTurn(['--listening-ip', '127.0.0.1', '--listening-port', String(port), '--realm', 'example.org', '--allow-loopback-peers', '--prometheus', '--prometheus-port', String(promPort), ...args]);
  try {
    await fn(t, `http://127.0.0.1:${promPort}/metrics`);
  } finally {
    assert.equal(await t.stop(), 0, 'dari turn exits 0 on SIGTERM');
  }
}

/** Runs turnutils_uclient and checks it relayed everything: 0 % loss, and our counters moved. */
async function uclient(t: TurnProcess, metricsUrl: string, flags: string[]): Promise<string> {
  const before = await metric(metricsUrl, 'dari_turn_relayed_packets_total', 'direction="to_peer"');
  const { code, out } = await run('turnutils_uclient', [...flags, '-e', '127.0.0.1', '-r', String(peer.port), '-n', '50', '-m', '4', '-l', '170', '-z', '5', '-p', String(t.port), '127.0.0.1']);
  assert.equal(code, 0, out);
  assert.match(out, /Total lost packets 0 \(0\.000000%\)/, out);
  assert.doesNotMatch(out, /error \d{3}/i, out);
  const after = await metric(metricsUrl, 'dari_turn_relayed_packets_total', 'direction="to_peer"');
  // 4 clients × 50 messages (each client also runs an RTCP allocation unless -c).
  assert.ok(after - before >= 200, `relayed ${after - before} packets to the peer`);
  return out;
}

test('turnutils_stunclient prints our XOR-MAPPED-ADDRESS', async () => {
  await withTurn(['--lt-cred-mech', '--user', 'alice:secret'], async (t) => {
    const { code, out } = await run('turnutils_stunclient', ['-p', String(t.port), '127.0.0.1']);
    assert.equal(code, 0, out);
    assert.match(out, /UDP reflexive addr: 127\.0\.0\.1:\d+/);
  });
});

test('turnutils_uclient relays to turnutils_peer with 0 % loss: UDP and TCP, channels and Send indications, long-term credentials', async () => {
  await withTurn(['--lt-cred-mech', '--user', 'alice:secret'], async (t, m) => {
    for (const mode of [[], ['-s'], ['-t'], ['-t', '-s']]) await uclient(t, m, [...mode, '-u', 'alice', '-w', 'secret']);
    assert.ok((await metric(m, 'dari_turn_allocations_total')) >= 16);
  });
});

test('turnutils_uclient with the TURN REST API secret (-W)', async () => {
  await withTurn(['--use-auth-secret', '--static-auth-secret', 'rest-secret'], async (t, m) => {
    await uclient(t, m, ['-W', 'rest-secret', '-u', 'bob']);
    await uclient(t, m, ['-t', '-W', 'rest-secret', '-u', 'bob']);
  });
});

test('IPv6: an IPv6 relay (-x) to an IPv6 peer over ::1', async () => {
  const port = await freeUdpPort();
  const { spawn } = await import('node:child_process');
  const peer6 = spawn('turnutils_peer', ['-L', '::1', '-p', String(port)], { stdio: 'ignore' });
  try {
    const t = await startTurn(['--listening-ip', '::1', '--listening-port', '0', '--realm', 'example.org', '--allow-loopback-peers', '--lt-cred-mech', '--user', 'alice:secret']);
    try {
      const { code, out } = await run('turnutils_uclient', ['-x', '-u', 'alice', '-w', 'secret', '-e', '::1', '-r', String(port), '-n', '30', '-m', '2', '-l', '170', '-z', '5', '-p', String(t.port), '::1']);
      assert.equal(code, 0, out);
      assert.match(out, /Total lost packets 0 \(0\.000000%\)/, out);
      assert.ok(t.log.some((l) => l.includes('allocation created') && l.includes('"relay":"::1:')), 'an IPv6 relayed address');
    } finally {
      await t.stop();
    }
  } finally {
    peer6.kill('SIGKILL');
  }
});

test('TURN over TLS (-S -t) with a configured certificate', async () => {
  const { execFileSync } = await import('node:child_process');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const dir = mkdtempSync(join(tmpdir(), 'dari-turn-tls-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const tlsPort = await freeUdpPort();
  await withTurn(['--lt-cred-mech', '--user', 'alice:secret', '--cert', join(dir, 'cert.pem'), '--pkey', join(dir, 'key.pem'), '--tls-listening-port', String(tlsPort)], async (t, m) => {
    assert.ok(t.endpoints.includes(`tls://127.0.0.1:${tlsPort}`), t.endpoints.join(' '));
    const before = await metric(m, 'dari_turn_relayed_packets_total', 'direction="to_peer"');
    const { code, out } = await run('turnutils_uclient', ['-S', '-t', '-u', 'alice', '-w', 'secret', '-e', '127.0.0.1', '-r', String(peer.port), '-n', '30', '-m', '2', '-l', '170', '-z', '5', '-p', String(tlsPort), '127.0.0.1']);
    assert.equal(code, 0, out);
    assert.match(out, /Total lost packets 0 \(0\.000000%\)/, out);
    assert.ok((await metric(m, 'dari_turn_relayed_packets_total', 'direction="to_peer"')) - before >= 60);
  });
});

test('garbage on the UDP and TCP listeners is dropped and the server keeps serving', async () => {
  await withTurn(['--lt-cred-mech', '--user', 'alice:secret'], async (t, m) => {
    const { createConnection } = await import('node:net');
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
    for (const junk of ['', 'hello', '\x00\x01\x00\x08\x21\x12\xa4\x42', 'x'.repeat(2000)]) sock.send(Buffer.from(junk, 'latin1'), t.port, '127.0.0.1');
    const tcp = createConnection(t.port, '127.0.0.1');
    await once(tcp, 'connect');
    // Neither STUN (top bits 00) nor ChannelData (01): the server closes the stream.
    tcp.write(Buffer.from([0xff, 0x00, 0x00, 0x10, 1, 2, 3, 4]));
    await once(tcp, 'close');
    sock.close();
    const { code, out } = await run('turnutils_stunclient', ['-p', String(t.port), '127.0.0.1']);
    assert.equal(code, 0, out);
    assert.match(out, /UDP reflexive addr/);
    // The datagrams were read before the Binding that was answered: they are counted by reason.
    // (An empty datagram may or may not be delivered; 'hello' and the short header are.)
    assert.ok((await metric(m, 'dari_turn_ignored_total', 'reason="not-stun"')) >= 2, "'hello' and a short header");
    assert.ok((await metric(m, 'dari_turn_ignored_total', 'reason="malformed"')) >= 1, "'xxxx…' reads as ChannelData with a lying length");
  });
});

test('wrong credentials are refused, and counted by reason', async () => {
  await withTurn(['--lt-cred-mech', '--user', 'alice:secret'], async (t, m) => {
    const { out } = await run('turnutils_uclient', ['-u', 'alice', '-w', 'wrong', '-e', '127.0.0.1', '-r', String(peer.port), '-n', '2', '-m', '1', '-p', String(t.port), '127.0.0.1'], 20_000);
    assert.doesNotMatch(out, /Total lost packets 0/);
    assert.ok((await metric(m, 'dari_turn_auth_failures_total', 'reason="bad-integrity"')) >= 1);
    assert.equal(await metric(m, 'dari_turn_allocations', ''), 0);
  });
});

test('turnutils_natdiscovery finds endpoint-independent mapping and filtering through our RFC 5780 second address', async () => {
  // RFC 5780 needs fixed ports: the primary one and the "other" one (--alt-listening-port).
  const [port, alt] = [await freeUdpPort(), await freeUdpPort()];
  await withTurn(['--listening-ip', '127.0.0.2', '--alt-listening-port', String(alt), '--lt-cred-mech', '--user', 'alice:secret'], async (t) => {
    const { out } = await run('turnutils_natdiscovery', ['-m', '-f', '-p', String(t.port), '127.0.0.1'], 60_000);
    assert.match(out, /Other addr: : 127\.0\.0\.2:\d+/, out);
    assert.match(out, /NAT with Endpoint Independent Mapping!/, out);
    assert.match(out, /NAT with Endpoint Independent Filtering!/, out);
  }, port);
});

test('peer policy over real sockets: loopback refused with 403 unless allowed, in every spelling', async () => {
  const t = await startTurn(['--listening-ip', '127.0.0.1', '--listening-port', '0', '--realm', 'example.org', '--lt-cred-mech', '--user', 'alice:secret']);
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  const responses: Uint8Array[] = [];
  const waiters: (() => void)[] = [];
  sock.on('message', (m) => {
    responses.push(new Uint8Array(m));
    waiters.shift()?.();
  });
  const transact = async (b: MessageBuilder) => {
    const got = new Promise<void>((r) => waiters.push(r));
    sock.send(b.build(), t.port, '127.0.0.1');
    await got;
    const r = decodeMessage(responses.shift()!);
    assert.ok(r.ok);
    return r.value;
  };
  try {
    const first = await transact(new MessageBuilder('request', Method.Allocate).add(Attr.REQUESTED_TRANSPORT, writeRequestedTransport(17)));
    const nonce = (readString(getAttribute(first, Attr.NONCE)!.value) as { value: string }).value;
    const key = longTermKey('alice', 'example.org', 'secret');
    const authed = (b: MessageBuilder) => b.add(Attr.USERNAME, writeString('alice')).add(Attr.REALM, writeString('example.org')).add(Attr.NONCE, writeString(nonce)).integrity(key, nodeHmac).fingerprint();
    const alloc = await transact(authed(new MessageBuilder('request', Method.Allocate).add(Attr.REQUESTED_TRANSPORT, writeRequestedTransport(17))));
    assert.equal(alloc.cls, 'success');
    for (const address of ['127.0.0.1', '0.0.0.0', '169.254.169.254', '10.1.2.3', '192.168.0.1', '224.0.0.251']) {
      const b = new MessageBuilder('request', Method.CreatePermission);
      b.add(Attr.XOR_PEER_ADDRESS, writeXorAddress({ family: 4, address, port: 0 }, b.transactionId));
      const r = await transact(authed(b));
      assert.equal(r.cls, 'error', address);
      assert.equal((readErrorCode(getAttribute(r, Attr.ERROR_CODE)!.value) as { value: { code: number } }).value.code, 403, address);
    }
  } finally {
    sock.close();
    await t.stop();
  }
});

test('unsupported and unknown coturn options are refused by name', async () => {
  for (const [args, re] of [[['--secure-stun'], /unsupported coturn option --secure-stun/], [['--bogus-flag'], /unknown option --bogus-flag/], [['--lt-cred-mech'], /credentials/]] as const) {
    const { code, out } = await run(process.execPath, [new URL('../../bin/dari.js', import.meta.url).pathname, 'turn', ...args]);
    assert.equal(code, 2, out);
    assert.match(out, re);
  }
});

void once;
