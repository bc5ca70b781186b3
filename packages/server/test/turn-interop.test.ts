/**
 * `dari turn` against coturn's own clients (Debian's coturn package): turnutils_stunclient,
 * turnutils_uclient relaying to turnutils_peer in every mode, turnutils_natdiscovery (RFC 5780),
 * plus the peer-policy refusals over real sockets. Every test runs on both UDP data paths, the
 * native fast path and the TypeScript one (DARI_TURN_PATHS=native or typescript runs one), with
 * the default worker threads (one per core); the REST test also runs in the main thread (-m 0).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { Attr, MessageBuilder, Method, decodeMessage, getAttribute, readErrorCode, writeRequestedTransport, writeString, writeXorAddress, longTermKey, nodeHmac, readString } from '@dari/stun';
import { freeUdpPort, metric, run, startPeer, startTurn, type TurnProcess } from './turn-process.js';

const PATHS = (process.env.DARI_TURN_PATHS ?? 'native,typescript').split(',');

/** What each path made of GARBAGE: answers (class, method, error code) and ignore counts. */
const CORPUS_RESULTS = new Map<string, { ignored: Record<string, number>; answers: string[] }>();
/** Junk, near-STUN and near-TURN datagrams, and @dari/stun's fuzz corpus (its inputs once failed a property). */
const GARBAGE: Buffer[] = (() => {
  const corpus = JSON.parse(readFileSync(new URL('../../../../packages/stun/test/fuzz-regressions.json', import.meta.url), 'utf8')) as { inputs: string[] };
  const binding = () => new MessageBuilder('request', Method.Binding, new Uint8Array(12).fill(1));
  const badFingerprint = Buffer.from(binding().fingerprint().build());
  badFingerprint[badFingerprint.length - 1]! ^= 1;
  const send = new MessageBuilder('indication', Method.Send, new Uint8Array(12).fill(2));
  send.add(Attr.XOR_PEER_ADDRESS, writeXorAddress({ family: 4, address: '127.0.0.1', port: 9 }, send.transactionId)).add(Attr.DATA, new Uint8Array(3));
  return [
    ...['', 'hello', '\x00\x01\x00\x08\x21\x12\xa4\x42', 'x'.repeat(2000)].map((j) => Buffer.from(j, 'latin1')),
    badFingerprint,
    Buffer.from(binding().add(0x7777, new Uint8Array(4)).build()), // unknown comprehension-required: 420
    Buffer.from(binding().add(Attr.PADDING, new Uint8Array(8)).build()), // RFC 5780 PADDING: answered by the core
    Buffer.from(new MessageBuilder('indication', Method.Binding).build()),
    Buffer.from(new MessageBuilder('success', Method.Binding).build()),
    Buffer.from(send.build()), // no allocation
    Buffer.from([0x40, 0x00, 0x00, 0x02, 1, 2]), // ChannelData, no allocation
    ...corpus.inputs.map((h) => Buffer.from(h, 'hex')),
  ];
})();

let peer: { port: number; stop(): void };
before(async () => {
  peer = await startPeer();
});
after(() => peer?.stop());

async function withTurn(args: string[], fn: (t: TurnProcess, metricsUrl: string) => Promise<void>, port = 0): Promise<void> {
  const promPort = await freeUdpPort();
  const t = await startTurn(['--listening-ip', '127.0.0.1', '--listening-port', String(port), '--realm', 'example.org', '--allow-loopback-peers', '--prometheus', '--prometheus-port', String(promPort), ...args]);
  // The path asked for is the one that runs (the native one must be built here).
  const fastPath = args[args.indexOf('--fast-path') + 1];
  if (args.includes('--fast-path')) assert.ok(t.log.some((l) => l.includes('"ready') && l.includes(`"fastPath":"${fastPath}"`)), t.log.join('\n'));
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

for (const path of PATHS) describe(`${path} path`, () => {
  const fast = ['--fast-path', path];

  test('turnutils_stunclient prints our XOR-MAPPED-ADDRESS', async () => {
    await withTurn([...fast, '--lt-cred-mech', '--user', 'alice:secret'], async (t) => {
      const { code, out } = await run('turnutils_stunclient', ['-p', String(t.port), '127.0.0.1']);
      assert.equal(code, 0, out);
      assert.match(out, /UDP reflexive addr: 127\.0\.0\.1:\d+/);
    });
  });

  test('turnutils_uclient relays to turnutils_peer with 0 % loss: UDP and TCP, channels and Send indications, long-term credentials', async () => {
    await withTurn([...fast, '--lt-cred-mech', '--user', 'alice:secret'], async (t, m) => {
      for (const mode of [[], ['-s'], ['-t'], ['-t', '-s']]) await uclient(t, m, [...mode, '-u', 'alice', '-w', 'secret']);
      assert.ok((await metric(m, 'dari_turn_allocations_total')) >= 16);
    });
  });

  test('turnutils_uclient with the TURN REST API secret (-W), with worker threads and in the main thread (-m 0)', async () => {
    for (const threads of [[], ['--relay-threads', '0']]) {
      await withTurn([...fast, ...threads, '--use-auth-secret', '--static-auth-secret', 'rest-secret'], async (t, m) => {
        await uclient(t, m, ['-W', 'rest-secret', '-u', 'bob']);
        await uclient(t, m, ['-t', '-W', 'rest-secret', '-u', 'bob']);
      });
    }
  });

  test('IPv6: an IPv6 relay (-x) to an IPv6 peer over ::1', async () => {
    const port = await freeUdpPort();
    const { spawn } = await import('node:child_process');
    const peer6 = spawn('turnutils_peer', ['-L', '::1', '-p', String(port)], { stdio: 'ignore' });
    try {
      const t = await startTurn([...fast, '--listening-ip', '::1', '--listening-port', '0', '--realm', 'example.org', '--allow-loopback-peers', '--lt-cred-mech', '--user', 'alice:secret']);
      try {
        const { code, out } = await run('turnutils_uclient', ['-x', '-u', 'alice', '-w', 'secret', '-e', '::1', '-r', String(port), '-n', '30', '-m', '2', '-l', '170', '-z', '5', '-p', String(t.port), '::1']);
        assert.equal(code, 0, out);
        assert.match(out, /Total lost packets 0 \(0\.000000%\)/, out);
        await t.waitForLog(/^(?=.*allocation created)(?=.*"relay":"::1:)/, 1); // an IPv6 relayed address
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
    await withTurn([...fast, '--lt-cred-mech', '--user', 'alice:secret', '--cert', join(dir, 'cert.pem'), '--pkey', join(dir, 'key.pem'), '--tls-listening-port', String(tlsPort)], async (t, m) => {
      assert.ok(t.endpoints.includes(`tls://127.0.0.1:${tlsPort}`), t.endpoints.join(' '));
      const before = await metric(m, 'dari_turn_relayed_packets_total', 'direction="to_peer"');
      const { code, out } = await run('turnutils_uclient', ['-S', '-t', '-u', 'alice', '-w', 'secret', '-e', '127.0.0.1', '-r', String(peer.port), '-n', '30', '-m', '2', '-l', '170', '-z', '5', '-p', String(tlsPort), '127.0.0.1']);
      assert.equal(code, 0, out);
      assert.match(out, /Total lost packets 0 \(0\.000000%\)/, out);
      assert.ok((await metric(m, 'dari_turn_relayed_packets_total', 'direction="to_peer"')) - before >= 60);
    });
  });

  test('garbage and the fuzz corpus on the UDP and TCP listeners are dropped or answered, counted by reason, and the server keeps serving', async () => {
    await withTurn([...fast, '--lt-cred-mech', '--user', 'alice:secret'], async (t, m) => {
      const { createConnection } = await import('node:net');
      const sock = createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
      const answers: string[] = [];
      let probeAnswered: () => void = () => {};
      sock.on('message', (msg) => {
        const r = decodeMessage(msg);
        if (r.ok && r.value.transactionId.every((b) => b === 0xee)) return probeAnswered();
        const code = r.ok ? getAttribute(r.value, Attr.ERROR_CODE) : undefined;
        answers.push(r.ok ? `${r.value.cls} ${r.value.method}${code ? ` ${(readErrorCode(code.value) as { value: { code: number } }).value.code}` : ''}` : 'undecodable');
      });
      for (const junk of GARBAGE) sock.send(junk, t.port, '127.0.0.1');
      // From the same 5-tuple (so the same worker), after the rest: once it is answered, all were read.
      const probe = new MessageBuilder('request', Method.Binding, new Uint8Array(12).fill(0xee)).build();
      await new Promise<void>((resolve) => {
        probeAnswered = resolve;
        sock.send(probe, t.port, '127.0.0.1');
      });
      const tcp = createConnection(t.port, '127.0.0.1');
      await once(tcp, 'connect');
      // Neither STUN (top bits 00) nor ChannelData (01): the server closes the stream.
      tcp.write(Buffer.from([0xff, 0x00, 0x00, 0x10, 1, 2, 3, 4]));
      await once(tcp, 'close');
      sock.close();
      const { code, out } = await run('turnutils_stunclient', ['-p', String(t.port), '127.0.0.1']);
      assert.equal(code, 0, out);
      assert.match(out, /UDP reflexive addr/);
      const text = await (await fetch(m)).text();
      const ignored = Object.fromEntries([...text.matchAll(/^dari_turn_ignored_total\{reason="([^"]+)"\} (\S+)$/gm)].map(([, r, v]) => [r!, Number(v)]));
      assert.ok(ignored['not-stun']! >= 2, "'hello' and a short header");
      assert.ok(ignored['malformed']! >= 1, "'xxxx…' reads as ChannelData with a lying length");
      CORPUS_RESULTS.set(path, { ignored, answers: answers.sort() });
    });
  });

  test('wrong credentials are refused, and counted by reason', async () => {
    await withTurn([...fast, '--lt-cred-mech', '--user', 'alice:secret'], async (t, m) => {
      const { out } = await run('turnutils_uclient', ['-u', 'alice', '-w', 'wrong', '-e', '127.0.0.1', '-r', String(peer.port), '-n', '2', '-m', '1', '-p', String(t.port), '127.0.0.1'], 20_000);
      assert.doesNotMatch(out, /Total lost packets 0/);
      assert.ok((await metric(m, 'dari_turn_auth_failures_total', 'reason="bad-integrity"')) >= 1);
      assert.equal(await metric(m, 'dari_turn_allocations', ''), 0);
    });
  });

  test('turnutils_natdiscovery finds endpoint-independent mapping and filtering through our RFC 5780 second address', async () => {
    // RFC 5780 needs fixed ports: the primary one and the "other" one (--alt-listening-port).
    const [port, alt] = [await freeUdpPort(), await freeUdpPort()];
    await withTurn([...fast, '--listening-ip', '127.0.0.2', '--alt-listening-port', String(alt), '--lt-cred-mech', '--user', 'alice:secret'], async (t) => {
      const { out } = await run('turnutils_natdiscovery', ['-m', '-f', '-p', String(t.port), '127.0.0.1'], 60_000);
      assert.match(out, /Other addr: : 127\.0\.0\.2:\d+/, out);
      assert.match(out, /NAT with Endpoint Independent Mapping!/, out);
      assert.match(out, /NAT with Endpoint Independent Filtering!/, out);
    }, port);
  });

  test('peer policy over real sockets: loopback refused with 403 unless allowed, in every spelling', async () => {
    const t = await startTurn([...fast, '--listening-ip', '127.0.0.1', '--listening-port', '0', '--realm', 'example.org', '--lt-cred-mech', '--user', 'alice:secret']);
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
});

test('the garbage and the fuzz corpus get the same answers and the same ignore reasons on both paths', (t) => {
  const [a, b] = [CORPUS_RESULTS.get('native'), CORPUS_RESULTS.get('typescript')];
  if (!a || !b) return t.skip('needs both paths (DARI_TURN_PATHS)');
  assert.deepEqual(a.answers, b.answers);
  assert.deepEqual(a.ignored, b.ignored);
});

test('unsupported and unknown coturn options are refused by name', async () => {
  for (const [args, re] of [[['--secure-stun'], /unsupported coturn option --secure-stun/], [['--bogus-flag'], /unknown option --bogus-flag/], [['--lt-cred-mech'], /credentials/]] as const) {
    const { code, out } = await run(process.execPath, [new URL('../../bin/dari.js', import.meta.url).pathname, 'turn', ...args]);
    assert.equal(code, 2, out);
    assert.match(out, re);
  }
});

void once;
