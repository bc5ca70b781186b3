import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  COTURN_OPTIONS,
  SUPPORTED_OPTIONS,
  TurnOptionError,
  parseTurnArgs,
  parseTurnConfigFile,
  type OptionSpec,
  type CoturnOptions,
} from '../src/turn/coturn-options.js';

function confFile(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'dari-turn-'));
  const path = join(dir, 'turnserver.conf');
  writeFileSync(path, text);
  return path;
}

/** Asserts a TurnOptionError whose `option` is `option` and whose message names it and contains `text`. */
function throwsOption(fn: () => unknown, option: string, text?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TurnOptionError, `expected TurnOptionError, got ${String(err)}`);
    assert.equal(err.option, option, err.message);
    assert.ok(err.message.includes(option), `message does not name ${option}: ${err.message}`);
    if (text !== undefined) assert.ok(err.message.includes(text), `message lacks ${JSON.stringify(text)}: ${err.message}`);
    return true;
  });
}

const noAuth = (...argv: string[]) => parseTurnArgs(['--no-auth', ...argv]);

test('defaults (with --no-auth, the least an invocation needs)', () => {
  const expected: CoturnOptions = {
    listeningIps: ['0.0.0.0'],
    listeningPort: 3478,
    tlsListeningPort: 5349,
    altListeningPort: 3479,
    relayIps: [],
    externalIps: [],
    minPort: 49152,
    maxPort: 65535,
    realm: 'dari',
    users: [],
    ltCredMech: false,
    noAuth: true,
    useAuthSecret: false,
    staticAuthSecrets: [],
    allowedPeerIps: [],
    deniedPeerIps: [],
    allowLoopbackPeers: false,
    userQuota: 0,
    totalQuota: 0,
    maxBps: 0,
    noUdp: false,
    noTcp: false,
    noTls: true, // no --cert/--pkey: TLS is off
    noDtls: true,
    noCli: true,
    fingerprint: false,
    staleNonceS: 600,
    maxAllocateLifetimeS: 3600,
    channelLifetimeS: 600,
    permissionLifetimeS: 300,
    verbose: false,
    prometheus: false,
    prometheusPort: 9641,
    software: true,
    help: false,
    version: false,
  };
  assert.deepEqual(parseTurnArgs(['--no-auth']), expected);
  assert.equal('logFile' in parseTurnArgs(['--no-auth']), false);
  assert.equal('cert' in parseTurnArgs(['--no-auth']), false);
});

test('long, long=value, short, attached short value and clustered short flags', () => {
  for (const argv of [['--listening-port', '4000'], ['--listening-port=4000'], ['-p', '4000'], ['-p4000']]) {
    const o = noAuth(...argv);
    assert.equal(o.listeningPort, 4000, argv.join(' '));
    assert.equal(o.altListeningPort, 4001, argv.join(' '));
  }
  const o = parseTurnArgs(['-afv', '-u', 'alice:pw', '-r', 'example.org', '-L', '127.0.0.1', '-E', '127.0.0.2', '-X', '203.0.113.7', '-q', '5', '-Q', '50', '-s', '125000']);
  assert.equal(o.ltCredMech, true);
  assert.equal(o.fingerprint, true);
  assert.equal(o.verbose, true);
  assert.deepEqual(o.users, [{ name: 'alice', password: 'pw' }]);
  assert.equal(o.realm, 'example.org');
  assert.deepEqual(o.listeningIps, ['127.0.0.1']);
  assert.deepEqual(o.relayIps, ['127.0.0.2']);
  assert.deepEqual(o.externalIps, [{ public: '203.0.113.7' }]);
  assert.equal(o.userQuota, 5);
  assert.equal(o.totalQuota, 50);
  assert.equal(o.maxBps, 125000);
  // A required value is taken from the next argument even if it starts with '-' (getopt).
  assert.equal(noAuth('--realm', '-odd-').realm, '-odd-');
  assert.equal(noAuth('--tls-listening-port=0', '--alt-listening-port', '7000', '--min-port', '50000', '--max-port', '50010').altListeningPort, 7000);
  const ports = noAuth('--min-port=50000', '--max-port=50010');
  assert.deepEqual([ports.minPort, ports.maxPort], [50000, 50010]);
  assert.equal(noAuth('-p', '0').altListeningPort, 0);
  assert.equal(noAuth('-V').verbose, true);
});

test('flags take coturn boolean values only after =', () => {
  assert.equal(noAuth('--fingerprint=off').fingerprint, false);
  assert.equal(noAuth('--fingerprint=YES').fingerprint, true);
  assert.equal(noAuth('--no-udp=1', '--no-udp=false').noUdp, false);
  assert.equal(noAuth('--no-software-attribute').software, false);
  assert.equal(noAuth('--prod').software, false);
  assert.equal(noAuth('--no-software-attribute', '--software-attribute').software, true);
  assert.equal(noAuth('--prometheus', '--prometheus-port', '9100').prometheusPort, 9100);
  assert.equal(noAuth('--prometheus').prometheus, true);
  throwsOption(() => noAuth('--fingerprint=maybe'), '--fingerprint', 'maybe');
  throwsOption(() => noAuth('--fingerprint', 'yes'), 'yes', '--fingerprint=yes');
});

test('optional values: --stale-nonce, --stale-nonce=N, --stale-nonce N and the lifetimes', () => {
  assert.equal(noAuth('--stale-nonce').staleNonceS, 600);
  assert.equal(noAuth('--stale-nonce=300').staleNonceS, 300);
  assert.equal(noAuth('--stale-nonce', '120').staleNonceS, 120);
  const o = noAuth('--max-allocate-lifetime=7200', '--channel-lifetime', '900', '--permission-lifetime=60');
  assert.deepEqual([o.maxAllocateLifetimeS, o.channelLifetimeS, o.permissionLifetimeS], [7200, 900, 60]);
  assert.equal(noAuth('--max-allocate-lifetime').maxAllocateLifetimeS, 3600);
  throwsOption(() => noAuth('--stale-nonce=0'), '--stale-nonce', 'seconds');
  throwsOption(() => noAuth('--channel-lifetime=-5'), '--channel-lifetime');
});

test('repeatable options accumulate; single-valued ones keep the last value', () => {
  const o = parseTurnArgs([
    '--lt-cred-mech',
    '-L', '127.0.0.1', '--listening-ip', '::1',
    '--relay-ip', '10.0.0.5', '-E', '10.0.0.6',
    '-u', 'alice:a', '--user=bob:b:with:colons',
    '--allowed-peer-ip', '10.0.0.0/8', '--allowed-peer-ip=192.168.1.10-192.168.1.20',
    '--denied-peer-ip', '203.0.113.9',
    '--realm', 'first', '--realm', 'second',
  ]);
  assert.deepEqual(o.listeningIps, ['127.0.0.1', '::1']);
  assert.deepEqual(o.relayIps, ['10.0.0.5', '10.0.0.6']);
  assert.deepEqual(o.users, [{ name: 'alice', password: 'a' }, { name: 'bob', password: 'b:with:colons' }]);
  assert.deepEqual(o.allowedPeerIps, ['10.0.0.0/8', '192.168.1.10-192.168.1.20']);
  assert.deepEqual(o.deniedPeerIps, ['203.0.113.9']);
  assert.equal(o.realm, 'second');
  const r = parseTurnArgs(['--static-auth-secret', 's1', '--static-auth-secret=s2']);
  assert.deepEqual(r.staticAuthSecrets, ['s1', 's2']);
  assert.equal(r.useAuthSecret, true, '--static-auth-secret implies --use-auth-secret, as in coturn');
});

test('external-ip: "public" and "public/private", IPv4 and IPv6', () => {
  const o = noAuth('-X', '198.51.100.1/10.0.0.1', '--external-ip=2001:db8::1/fd00::1', '--external-ip', '203.0.113.7');
  assert.deepEqual(o.externalIps, [
    { public: '198.51.100.1', private: '10.0.0.1' },
    { public: '2001:db8::1', private: 'fd00::1' },
    { public: '203.0.113.7' },
  ]);
  throwsOption(() => noAuth('-X', '203.0.113.7', '-X', '203.0.113.8'), '--external-ip', 'once');
  throwsOption(() => noAuth('-X', 'turn.example.org'), '--external-ip', 'turn.example.org');
  throwsOption(() => noAuth('-X', '198.51.100.1/fd00::1'), '--external-ip', 'IPv4 and IPv6');
  throwsOption(() => noAuth('-X', '0.0.0.0'), '--external-ip', 'unspecified');
  throwsOption(() => noAuth('-X', '198.51.100.1/'), '--external-ip');
});

test('user: name:password and coturn 0x key', () => {
  const key = '0x' + 'A1'.repeat(16);
  const o = parseTurnArgs(['-a', '-u', 'alice:s3cr#t', '-u', `bob:${key}`, '-u', 'carol: spaced']);
  assert.deepEqual(o.users, [
    { name: 'alice', password: 's3cr#t' },
    { name: 'bob', key: 'a1'.repeat(16) },
    { name: 'carol', password: 'spaced' }, // coturn skips blanks after ':'
  ]);
  throwsOption(() => parseTurnArgs(['-a', '-u', 'alice']), '--user', 'name:password');
  throwsOption(() => parseTurnArgs(['-a', '-u', ':pw']), '--user');
  throwsOption(() => parseTurnArgs(['-a', '-u', 'alice:']), '--user');
  throwsOption(() => parseTurnArgs(['-a', '-u', 'bob:0x1234']), '--user', '32 hex digits');
  throwsOption(() => parseTurnArgs(['-a', '-u', 'alice:x', '-u', 'alice:y']), '--user', 'twice');
});

test('config file: comments, blank lines, flags, name=value, name value, quotes, CRLF', () => {
  const text = [
    '# coturn-style config',
    '',
    '   # indented comment',
    'listening-port=4478',
    'listening-ip 127.0.0.1',
    'listening-ip   =  ::1',
    'lt-cred-mech',
    'fingerprint',
    'no-tcp=false',
    'realm "example.org"',
    'user=alice:pa ss#word',
    'stale-nonce',
    'max-bps 250000\r',
    '\tverbose  ',
    '',
  ].join('\n');
  const path = confFile(text);
  assert.deepEqual(parseTurnConfigFile(text, path), [
    ['listening-port', '4478'],
    ['listening-ip', '127.0.0.1'],
    ['listening-ip', '::1'],
    ['lt-cred-mech', undefined],
    ['fingerprint', undefined],
    ['no-tcp', 'false'],
    ['realm', 'example.org'],
    ['user', 'alice:pa ss#word'],
    ['stale-nonce', undefined],
    ['max-bps', '250000'],
    ['verbose', undefined],
  ]);
  for (const argv of [['-c', path], ['--conf-file', path], [`--conf-file=${path}`]]) {
    const o = parseTurnArgs(argv);
    assert.equal(o.listeningPort, 4478);
    assert.deepEqual(o.listeningIps, ['127.0.0.1', '::1']);
    assert.equal(o.ltCredMech, true);
    assert.equal(o.fingerprint, true);
    assert.equal(o.noTcp, false);
    assert.equal(o.realm, 'example.org');
    assert.deepEqual(o.users, [{ name: 'alice', password: 'pa ss#word' }]);
    assert.equal(o.staleNonceS, 600);
    assert.equal(o.maxBps, 250000);
    assert.equal(o.verbose, true);
  }
  // The readFile hook is used instead of the file system.
  const seen: string[] = [];
  const o = parseTurnArgs(['-c', 'virtual.conf'], (p) => {
    seen.push(p);
    return 'no-auth\nmin-port=40000\n';
  });
  assert.deepEqual(seen, ['virtual.conf']);
  assert.equal(o.minPort, 40000);
});

test('command-line options override the file; repeatable ones add to it', () => {
  const path = confFile('lt-cred-mech\nuser=alice:a\nrealm=file.example\nlistening-port=4478\nlistening-ip=127.0.0.1\nfingerprint\n');
  const o = parseTurnArgs(['-c', path, '--realm', 'cli.example', '-p', '5478', '-L', '127.0.0.2', '-u', 'bob:b', '--fingerprint=no']);
  assert.equal(o.realm, 'cli.example');
  assert.equal(o.listeningPort, 5478);
  assert.equal(o.altListeningPort, 5479);
  assert.equal(o.fingerprint, false);
  assert.deepEqual(o.listeningIps, ['127.0.0.1', '127.0.0.2']);
  assert.deepEqual(o.users.map((u) => u.name), ['alice', 'bob']);
  // Order on the command line does not matter: -c may come last.
  assert.equal(parseTurnArgs(['--realm', 'cli.example', '-c', path]).realm, 'cli.example');
});

test('config file errors name the file, the line and the option', () => {
  throwsOption(() => parseTurnConfigFile('realm=x\n\nsecure-stun\n', 'a.conf'), '--secure-stun', 'a.conf:3: unsupported coturn option --secure-stun');
  throwsOption(() => parseTurnConfigFile('bogus-option=1\n', 'a.conf'), '--bogus-option', 'a.conf:1: unknown option --bogus-option');
  throwsOption(() => parseTurnConfigFile('# x\nrealm\n', 'a.conf'), '--realm', 'a.conf:2: --realm needs a value');
  throwsOption(() => parseTurnConfigFile('conf-file=/etc/x.conf\n', 'a.conf'), '--conf-file', 'only valid on the command line');
  throwsOption(() => parseTurnConfigFile('--realm=x\n', 'a.conf'), '--realm', 'a.conf:1: --realm: option names in a config file have no leading dashes: write realm');
  // Value errors found while applying the file carry its line too.
  throwsOption(() => parseTurnArgs(['-c', 'v.conf'], () => 'no-auth\n\nlistening-port=99999\n'), '--listening-port', 'v.conf:3: --listening-port');
  throwsOption(() => parseTurnArgs(['-c', join(tmpdir(), 'does-not-exist-dari.conf')]), '--conf-file', 'ENOENT');
});

test("Debian's sample /etc/turnserver.conf: its first active line is refused by name", { skip: !existsSync('/etc/turnserver.conf') }, () => {
  const text = readFileSync('/etc/turnserver.conf', 'utf8');
  const lines = text.split('\n');
  const first = lines.findIndex((l) => l.trim() !== '' && !l.trim().startsWith('#'));
  if (first < 0) return; // a fully commented file parses to nothing
  const name = lines[first]!.trim().split(/[ \t=]/)[0]!;
  assert.throws(
    () => parseTurnConfigFile(text, '/etc/turnserver.conf'),
    (err: unknown) => err instanceof TurnOptionError && err.option === `--${name}` && err.message.startsWith(`/etc/turnserver.conf:${first + 1}: `),
  );
});

test('unsupported coturn options are refused by name, long or short, whatever their value', () => {
  throwsOption(() => noAuth('--secure-stun'), '--secure-stun', 'unsupported coturn option --secure-stun: ');
  throwsOption(() => noAuth('--secure-stun=0'), '--secure-stun', 'unsupported coturn option');
  throwsOption(() => noAuth('--mobility'), '--mobility', 'unsupported');
  throwsOption(() => noAuth('--redis-userdb', 'host=x'), '--redis-userdb', 'database');
  throwsOption(() => noAuth('--oauth'), '--oauth', 'unsupported');
  throwsOption(() => noAuth('--cipher-list=DEFAULT'), '--cipher-list', 'unsupported');
  throwsOption(() => noAuth('--daemon'), '--daemon', 'unsupported');
  throwsOption(() => noAuth('-J', 'mongodb://x'), '--mongo-userdb', 'unsupported coturn option -J (--mongo-userdb): ');
  throwsOption(() => noAuth('-o'), '--daemon', '-o (--daemon)');
  throwsOption(() => noAuth('-vS'), '--stun-only', '-S (--stun-only)');
  throwsOption(() => noAuth('--sha256'), '--sha256', 'unsupported'); // retired from coturn
  throwsOption(() => noAuth('--dh2066'), '--dh2066', 'unsupported');
  throwsOption(() => noAuth('--prometheus-path=/m'), '--prometheus-path', 'unsupported'); // newer coturn
});

test('unknown options and stray arguments are refused', () => {
  throwsOption(() => noAuth('--bogus'), '--bogus', 'unknown option --bogus');
  throwsOption(() => noAuth('--bogus=1'), '--bogus', 'unknown option --bogus');
  throwsOption(() => noAuth('-Y'), '-Y', 'unknown option -Y');
  throwsOption(() => noAuth('--lt'), '--lt', 'did you mean --lt-cred-mech');
  throwsOption(() => noAuth('--ca-file', 'x'), '--ca-file', 'did you mean --CA-file');
  throwsOption(() => noAuth('stray'), 'stray', 'unexpected argument');
  throwsOption(() => noAuth('--', 'stray'), 'stray', 'unexpected argument');
  throwsOption(() => noAuth('--realm'), '--realm', 'needs a value');
  throwsOption(() => noAuth('-r'), '--realm', 'needs a value');
  throwsOption(() => noAuth('-p=3478'), '--listening-port', '-p 3478');
});

test('accepted no-ops change nothing; their "off" form is refused', () => {
  const base = noAuth();
  const o = noAuth('--no-multicast-peers', '--no-cli', '--no-dtls', '--no-tcp-relay', '--no-tlsv1', '--no-tlsv1_1', '--no-sslv3', '--simple-log', '--no-auth-pings', '--no-loopback-peers', '-n', '--secret-ts-exp-time=60');
  assert.deepEqual(o, base);
  throwsOption(() => noAuth('--no-multicast-peers=0'), '--no-multicast-peers', 'only as on');
  throwsOption(() => noAuth('--no-dtls=false'), '--no-dtls', 'DTLS');
  throwsOption(() => noAuth('--no-cli=off'), '--no-cli', 'CLI');
});

test('-n, -c, -h/--help and --version', () => {
  throwsOption(() => noAuth('-n', '-c', 'x.conf'), '-n', '-c');
  throwsOption(() => noAuth('-c', 'a.conf', '-c', 'b.conf'), '--conf-file', 'one config file');
  const h = parseTurnArgs(['-h']);
  assert.equal(h.help, true);
  assert.equal(h.version, false);
  // Help and version skip the config file and the checks (no auth mechanism chosen here).
  assert.equal(parseTurnArgs(['--help', '-c', 'never-read.conf'], () => assert.fail('read')).help, true);
  assert.equal(parseTurnArgs(['--version']).version, true);
  // Unknown options are still refused first.
  throwsOption(() => parseTurnArgs(['--help', '--bogus']), '--bogus');
});

test('ports, addresses and ranges are validated', () => {
  throwsOption(() => noAuth('-p', '65536'), '--listening-port', '0-65535');
  throwsOption(() => noAuth('-p', 'http'), '--listening-port', '"http"');
  throwsOption(() => noAuth('--tls-listening-port', '-1'), '--tls-listening-port');
  throwsOption(() => noAuth('--min-port', '0'), '--min-port', '1-65535');
  throwsOption(() => noAuth('--max-port', '70000'), '--max-port');
  throwsOption(() => noAuth('--min-port', '60000', '--max-port', '50000'), '--min-port', 'above --max-port');
  throwsOption(() => noAuth('-p', '65535'), '--alt-listening-port', '65536');
  throwsOption(() => noAuth('--alt-listening-port', '3478'), '--alt-listening-port', 'must differ');
  throwsOption(() => noAuth('-L', '300.1.1.1'), '--listening-ip', '300.1.1.1');
  throwsOption(() => noAuth('-L', 'localhost'), '--listening-ip', 'localhost');
  throwsOption(() => noAuth('-L', '127.0.0.1', '-L', '127.0.0.1'), '--listening-ip', 'twice');
  throwsOption(() => noAuth('-E', '0.0.0.0'), '--relay-ip', 'unspecified');
  throwsOption(() => noAuth('-E', '::'), '--relay-ip', 'unspecified');
  throwsOption(() => noAuth('--allowed-peer-ip', '10.0.0.9-10.0.0.1'), '--allowed-peer-ip', 'above');
  throwsOption(() => noAuth('--allowed-peer-ip', '10.0.0.1-::1'), '--allowed-peer-ip', 'IPv4 and IPv6');
  throwsOption(() => noAuth('--denied-peer-ip', '10.0.0.0/33'), '--denied-peer-ip', 'prefix');
  throwsOption(() => noAuth('--denied-peer-ip', 'example.org'), '--denied-peer-ip', 'example.org');
  assert.deepEqual(noAuth('--denied-peer-ip', 'fd00::/8', '--denied-peer-ip', '::ffff:127.0.0.1', '--denied-peer-ip=2001:db8::1-2001:db8::ff').deniedPeerIps, [
    'fd00::/8',
    '::ffff:127.0.0.1',
    '2001:db8::1-2001:db8::ff',
  ]);
  throwsOption(() => noAuth('--user-quota', '-1'), '--user-quota');
  throwsOption(() => noAuth('--max-bps', '1.5'), '--max-bps', 'bytes per second');
  throwsOption(() => noAuth('--realm', 'r'.repeat(128)), '--realm', '128');
});

test('authentication choices', () => {
  throwsOption(() => parseTurnArgs([]), '--lt-cred-mech', 'choose --lt-cred-mech, --use-auth-secret or --no-auth');
  throwsOption(() => parseTurnArgs(['--lt-cred-mech']), '--lt-cred-mech', 'no credentials configured');
  throwsOption(() => parseTurnArgs(['--use-auth-secret']), '--use-auth-secret', '--static-auth-secret');
  throwsOption(() => parseTurnArgs(['-u', 'alice:pw']), '--user', 'needs --lt-cred-mech');
  throwsOption(() => parseTurnArgs(['-z', '-a', '-u', 'alice:pw']), '--no-auth', 'cannot be combined');
  throwsOption(() => parseTurnArgs(['-z', '--static-auth-secret', 's']), '--no-auth', 'cannot be combined');
  throwsOption(() => parseTurnArgs(['-a', '-u', 'alice:pw', '--static-auth-secret', 's']), '--user', '--use-auth-secret');
  throwsOption(() => parseTurnArgs(['--use-auth-secret=false', '--static-auth-secret', 's']), '--use-auth-secret', 'is off');
  // lt-cred-mech together with the REST API is coturn's usual configuration.
  const rest = parseTurnArgs(['--lt-cred-mech', '--use-auth-secret', '--static-auth-secret', 'S']);
  assert.deepEqual([rest.ltCredMech, rest.useAuthSecret, rest.staticAuthSecrets], [true, true, ['S']]);
  // A later --no-auth=0 undoes an earlier --no-auth (e.g. from the config file).
  throwsOption(() => parseTurnArgs(['-z', '--no-auth=0']), '--lt-cred-mech', 'choose');
});

test('TLS needs --cert and --pkey together; without them it is off', () => {
  const tls = noAuth('--cert', '/etc/dari/cert.pem', '--pkey', '/etc/dari/key.pem');
  assert.equal(tls.noTls, false);
  assert.equal(tls.cert, '/etc/dari/cert.pem');
  assert.equal(tls.pkey, '/etc/dari/key.pem');
  assert.equal(noAuth('--cert', 'c.pem', '--pkey', 'k.pem', '--no-tls').noTls, true);
  throwsOption(() => noAuth('--cert', 'c.pem'), '--pkey', 'without --pkey');
  throwsOption(() => noAuth('--pkey', 'k.pem'), '--cert', 'without --cert');
  throwsOption(() => noAuth('--no-tls=false'), '--no-tls', '--cert');
  throwsOption(() => noAuth('--cert', 'c.pem', '--pkey', 'k.pem', '--tls-listening-port', '3478'), '--tls-listening-port', 'TCP');
  throwsOption(() => noAuth('--no-udp', '--no-tcp'), '--no-udp', 'nothing would listen');
  assert.equal(noAuth('--no-udp', '--no-tcp', '--cert', 'c.pem', '--pkey', 'k.pem').noTls, false);
});

test('log file: path, stdout, -, stderr; syslog refused', () => {
  assert.equal(noAuth('-l', '/var/log/dari-turn.log').logFile, '/var/log/dari-turn.log');
  assert.equal(noAuth('--log-file', 'stderr').logFile, 'stderr');
  assert.equal('logFile' in noAuth('--log-file', '/tmp/x.log', '--log-file=stdout'), false);
  assert.equal('logFile' in noAuth('-l', '-'), false);
  throwsOption(() => noAuth('--log-file', 'syslog'), '--log-file', 'syslog');
});

test('the option table: unique names, and every accepted row is handled', () => {
  const longs = COTURN_OPTIONS.flatMap((o) => (o.name !== undefined ? [o.name] : []));
  assert.equal(new Set(longs).size, longs.length, 'duplicate long names');
  for (const o of COTURN_OPTIONS) assert.ok(o.name !== undefined || o.short !== undefined);
  assert.deepEqual(
    SUPPORTED_OPTIONS.map((o) => o.name ?? `-${o.short}`),
    COTURN_OPTIONS.filter((o) => o.status !== 'unsupported').map((o) => o.name ?? `-${o.short}`),
  );
  // Every coturn 4.6.1 long option named by `turnserver --help` is in the table.
  for (const name of ['listening-device', 'aux-server', 'psql-userdb', 'sql-userdb', 'db', 'userdb', 'mysql-userdb', 'redis-statsdb', 'secret-key-file', 'no-auth-pings', 'server-name', 'pkey-pwd', 'ec-curve-name', 'no-tlsv1_2', 'syslog-facility', 'new-log-timestamp-format', 'log-binding', 'rest-api-separator', 'max-allocate-timeout', 'pidfile', 'acme-redirect', 'proc-group', 'keep-address-family', 'allocation-default-address-family', 'cli-password', 'web-admin-listen-on-workers', 'server-relay', 'cli-max-output-sessions', 'ne', 'no-rfc5780', 'no-stun-backward-compatibility', 'response-origin-only-with-rfc5780', 'version']) {
    assert.ok(longs.includes(name), name);
  }
  const sample: Record<string, string> = {
    'listening-ip': '127.0.0.1', 'relay-ip': '127.0.0.1', 'external-ip': '203.0.113.1', 'allowed-peer-ip': '10.0.0.1', 'denied-peer-ip': '10.0.0.1',
    realm: 'r', user: 'u:p', 'static-auth-secret': 's', 'log-file': 'stderr', 'conf-file': 'x.conf', cert: 'c.pem', pkey: 'k.pem',
  };
  for (const spec of SUPPORTED_OPTIONS) {
    if (spec.name === undefined || spec.name === 'help' || spec.name === 'version') continue;
    const flag = `--${spec.name}`;
    const argv = spec.arg === 'required' ? [flag, sample[spec.name] ?? '1000'] : [flag];
    try {
      parseTurnArgs(argv, () => '');
    } catch (err) {
      // Conflicts between options are fine here (e.g. --user alone); a missing handler is not.
      assert.ok(err instanceof TurnOptionError, `${flag}: ${String(err)}`);
    }
  }
});

/** The docs row of a table entry, as docs/turn.md spells it. */
function docsRow(o: OptionSpec): string {
  const names = [o.name !== undefined ? `\`--${o.name}\`` : undefined, o.short !== undefined ? `\`-${o.short}\`` : undefined].filter((x) => x !== undefined);
  const status = { supported: 'supported', 'no-op': 'accepted (no-op)', unsupported: 'not supported' }[o.status];
  const note = o.origin !== undefined ? `${o.note} (${o.origin})` : o.note;
  return `| ${names.join(', ')} | ${status} | ${note} |`;
}

test('docs/turn.md lists every option with the same status and note', () => {
  const docs = readFileSync(new URL('../../../../docs/turn.md', import.meta.url), 'utf8');
  const rows = docs.split('\n').filter((l) => /^\| `-/.test(l));
  const expected = COTURN_OPTIONS.map(docsRow);
  for (const row of expected) assert.ok(rows.includes(row), `docs/turn.md lacks or differs from:\n${row}`);
  for (const row of rows) assert.ok(expected.includes(row), `docs/turn.md has a row the table lacks:\n${row}`);
});
