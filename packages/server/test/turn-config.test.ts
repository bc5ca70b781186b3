/** The one shape of TURN configuration: `dari serve`'s `turn:` section and `dari turn`'s coturn flags resolve alike. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig, validateTurnConfig } from '../src/config.js';
import { parseTurnArgs } from '../src/turn/coturn-options.js';
import { turnConfigFromCoturn } from '../src/turn/command.js';
import { chooseRelayAddresses, externalAddresses, resolveTurnConfig, type ResolvedTurn, type TurnContext } from '../src/turn/turn-config.js';

const host = (family: 4 | 6) => (family === 4 ? '192.0.2.44' : '2001:db8::44');
const none = () => undefined;

function throwsKey(fn: () => unknown, key: string, text?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConfigError, String(err));
    assert.equal(err.key, key, err.message);
    if (text !== undefined) assert.ok(err.message.includes(text), err.message);
    return true;
  });
}

test('relay addresses: configured ones first, then concrete listener addresses, then the host address of a wildcard, then 127.0.0.1', () => {
  assert.deepEqual(chooseRelayAddresses(['0.0.0.0'], ['203.0.113.5', '2001:db8::5', '203.0.113.6'], host), { v4: '203.0.113.5', v6: '2001:db8::5' });
  assert.deepEqual(chooseRelayAddresses(['127.0.0.1', '::1'], [], host), { v4: '127.0.0.1', v6: '::1' });
  assert.deepEqual(chooseRelayAddresses(['0.0.0.0', '127.0.0.2'], [], host), { v4: '127.0.0.2' }, 'a concrete listener wins over the wildcard');
  assert.deepEqual(chooseRelayAddresses(['0.0.0.0'], [], host), { v4: '192.0.2.44' });
  // `::` listens on both families: both get the host's address (dari serve used to put an IPv4 address in the IPv6 slot).
  assert.deepEqual(chooseRelayAddresses(['::'], [], host), { v4: '192.0.2.44', v6: '2001:db8::44' });
  assert.deepEqual(chooseRelayAddresses(['0.0.0.0'], [], none), { v4: '127.0.0.1' });
  assert.deepEqual(chooseRelayAddresses(['turn.example.org'], [], host), { v4: '127.0.0.1' }, 'a name is not a relay address');
});

test('external addresses: a bare public address stands for the relay address of its family; public/private maps the private one', () => {
  const relay = { v4: '10.0.0.7', v6: 'fd00::7' };
  assert.deepEqual([...externalAddresses(['203.0.113.7'], relay)], [['10.0.0.7', '203.0.113.7']]);
  assert.deepEqual([...externalAddresses(['2001:db8::7'], relay)], [['fd00::7', '2001:db8::7']]);
  assert.deepEqual([...externalAddresses(['203.0.113.8/10.0.0.8', '203.0.113.7'], relay)], [['10.0.0.8', '203.0.113.8'], ['10.0.0.7', '203.0.113.7']]);
  assert.deepEqual([...externalAddresses(['2001:db8::7'], { v4: '10.0.0.7' })], [], 'no relay address of that family: nothing to map');
});

/** The parts of a resolved configuration that are plain data (the policy and nonce objects compared by what they hold). */
function plain(r: ResolvedTurn): unknown {
  const { peerPolicy, nonces, ...core } = r.core;
  return { core, nonceLifetimeS: nonces?.lifetimeS, listen: r.listen, relay: r.relay, publicAddress: r.publicAddress, secrets: r.secrets, loopbackPeers: r.loopbackPeers, policy: peerPolicy?.denyReason('127.0.0.1') };
}

test('dari turn (coturn flags) and dari serve (turn: section) resolve to the same TURN server', () => {
  const ctx: TurnContext = { defaultListen: ['0.0.0.0'], allowLoopbackPeersDefault: false, hostAddress: host };
  const fromFlags = turnConfigFromCoturn(parseTurnArgs([
    '--listening-ip', '127.0.0.1', '--listening-ip', '127.0.0.2', '-p', '3478', '--alt-listening-port', '4000',
    '--relay-ip', '127.0.0.1', '-X', '203.0.113.9/127.0.0.1', '--lt-cred-mech', '-u', 'alice:pw', '-u', 'bob:0x0123456789abcdef0123456789ABCDEF',
    '--realm', 'example.org', '--min-port', '50000', '--max-port', '50100', '--stale-nonce=60', '--max-allocate-lifetime', '300',
    '--channel-lifetime', '400', '--permission-lifetime', '200', '--user-quota', '2', '--total-quota', '9', '--max-bps', '64000',
    '--denied-peer-ip', '198.51.100.0/24', '--allowed-peer-ip', '10.1.0.0/16', '--no-software-attribute',
  ]));
  const fromYaml = loadConfig({ set: [
    'turn.listenAddress=["127.0.0.1","127.0.0.2"]', 'turn.port=3478', 'turn.alternateIp=127.0.0.2', 'turn.alternatePort=4000',
    'turn.relayAddress=127.0.0.1', 'turn.externalIp=203.0.113.9/127.0.0.1', 'turn.users={"alice":"pw","bob":"0x0123456789abcdef0123456789abcdef"}',
    'turn.realm=example.org', 'turn.minPort=50000', 'turn.maxPort=50100', 'turn.nonceLifetimeS=60', 'turn.maxAllocationLifetimeS=300',
    'turn.channelLifetimeS=400', 'turn.permissionLifetimeS=200', 'turn.userQuota=2', 'turn.totalQuota=9', 'turn.maxBps=64000',
    'turn.deniedPeerIps=["198.51.100.0/24"]', 'turn.allowedPeerIps=["10.1.0.0/16"]', 'turn.software=false',
  ] }, {}).config.turn;
  const a = resolveTurnConfig(fromFlags, ctx);
  const b = resolveTurnConfig(fromYaml, ctx);
  assert.deepEqual(plain(a), plain(b));
  // And what they resolve to.
  assert.deepEqual(a.relay, { v4: '127.0.0.1' });
  assert.equal(a.publicAddress, '203.0.113.9');
  assert.deepEqual(a.listen.alternate, { address: '127.0.0.2', port: 4000 });
  assert.deepEqual(a.core.otherAddress, { address: '127.0.0.2', port: 4000 });
  assert.deepEqual(a.core.users?.get('bob'), Uint8Array.from(Buffer.from('0123456789abcdef0123456789abcdef', 'hex')), 'coturn 0x key: the MD5 key itself');
  assert.equal(a.core.users?.get('alice'), 'pw');
  assert.deepEqual([a.core.maxLifetimeS, a.core.defaultLifetimeS, a.core.channelLifetimeS, a.core.permissionLifetimeS, a.core.software], [300, 300, 400, 200, null]);
  assert.equal(a.core.peerPolicy?.denyReason('10.1.2.3'), undefined);
  assert.match(a.core.peerPolicy?.denyReason('198.51.100.1') ?? '', /denied-peer-ip/);
});

test('REST secrets, no-auth and TLS map across', () => {
  const rest = turnConfigFromCoturn(parseTurnArgs(['--static-auth-secret', 's1', '--static-auth-secret', 's2']));
  assert.deepEqual(rest.secret, ['s1', 's2']);
  assert.deepEqual(resolveTurnConfig(rest, { defaultListen: ['127.0.0.1'], allowLoopbackPeersDefault: false }).core.authSecrets, ['s1', 's2']);
  const open = resolveTurnConfig(turnConfigFromCoturn(parseTurnArgs(['--no-auth'])), { defaultListen: ['127.0.0.1'], allowLoopbackPeersDefault: false, secrets: ['unused'] });
  assert.equal(open.core.noAuth, true);
  assert.deepEqual(open.secrets, [], 'no REST secret in force without authentication');
  const tls = turnConfigFromCoturn(parseTurnArgs(['--no-auth', '--cert', 'c.pem', '--pkey', 'k.pem', '--tls-listening-port', '5350']));
  assert.deepEqual([tls.tls, tls.tlsPort], [{ cert: 'c.pem', key: 'k.pem' }, 5350]);
  assert.equal(turnConfigFromCoturn(parseTurnArgs(['--no-auth', '--cert', 'c.pem', '--pkey', 'k.pem', '--no-tls'])).tls, undefined);
  // dari serve: the default listener is the host, loopback peers follow dev mode, the secret is made up.
  const serve = resolveTurnConfig(loadConfig({}, {}).config.turn, { defaultListen: ['127.0.0.1'], allowLoopbackPeersDefault: true, secrets: ['random'] });
  assert.deepEqual([serve.listen.addresses, serve.relay, serve.secrets, serve.loopbackPeers], [['127.0.0.1'], { v4: '127.0.0.1' }, ['random'], 'default']);
  assert.equal(resolveTurnConfig(loadConfig({ set: ['turn.allowLoopbackPeers=true'] }, {}).config.turn, { defaultListen: ['127.0.0.1'], allowLoopbackPeersDefault: false }).loopbackPeers, 'configured');
});

test('the turn: section refuses bad values by key', () => {
  throwsKey(() => validateTurnConfig({ relayAddress: '0.0.0.0' }), 'turn.relayAddress', 'concrete');
  throwsKey(() => validateTurnConfig({ relayAddress: ['127.0.0.1', 'relay.example.org'] }), 'turn.relayAddress.1');
  throwsKey(() => validateTurnConfig({ externalIp: '203.0.113.1/::1' }), 'turn.externalIp', 'IPv4 and IPv6');
  throwsKey(() => validateTurnConfig({ externalIp: 'turn.example.org' }), 'turn.externalIp', 'turn.example.org');
  throwsKey(() => validateTurnConfig({ allowedPeerIps: ['10.0.0.0/33'] }), 'turn.allowedPeerIps.0', 'prefix');
  throwsKey(() => validateTurnConfig({ deniedPeerIps: ['10.0.0.9-10.0.0.1'] }), 'turn.deniedPeerIps.0', 'above');
  throwsKey(() => validateTurnConfig({ realm: 'r'.repeat(128) }), 'turn.realm', '128');
  throwsKey(() => validateTurnConfig({ nonceLifetimeS: 0 }), 'turn.nonceLifetimeS');
  throwsKey(() => validateTurnConfig({ relay: '127.0.0.1' }), 'turn.relay', 'unknown key');
  // dari serve hands its REST credentials to every participant: a short secret is refused there (not in dari turn).
  throwsKey(() => loadConfig({ set: ['turn.secret=short'] }, {}), 'turn.secret', '16');
  throwsKey(() => loadConfig({ set: ['turn.secret=["a-long-enough-turn-secret","short"]'] }, {}), 'turn.secret.1', '16');
  assert.deepEqual(validateTurnConfig({ secret: 'short' }).secret, ['short']);
});

test('worker threads and the UDP data path from coturn flags: -m N, -m 0 (the main thread), --cpus, --fast-path', () => {
  const workers = (...argv: string[]) => turnConfigFromCoturn(parseTurnArgs(['--no-auth', ...argv])).workers;
  assert.equal(workers(), undefined, 'default: one per core, decided at start');
  assert.equal(workers('-m', '4'), 4);
  assert.equal(workers('--relay-threads', '0'), 1, "coturn's -m 0 is its single-thread mode");
  assert.equal(workers('--cpus', '3'), 3);
  assert.equal(workers('--cpus', '3', '-m', '2'), 2, '-m wins over --cpus');
  assert.equal(turnConfigFromCoturn(parseTurnArgs(['--no-auth'])).fastPath, 'auto');
  assert.equal(turnConfigFromCoturn(parseTurnArgs(['--no-auth', '--fast-path', 'typescript'])).fastPath, 'typescript');
  assert.throws(() => parseTurnArgs(['--no-auth', '--fast-path', 'c']), /--fast-path.*expected auto, native or typescript/);
  assert.throws(() => parseTurnArgs(['--no-auth', '-m', '1000']), /--relay-threads.*0-256/);
  assert.throws(() => validateTurnConfig({ workers: 0 }), /turn\.workers/);
  assert.throws(() => validateTurnConfig({ fastPath: 'fast' }), /turn\.fastPath/);
});
