/** The pure rules of RTSP ingest: camera URLs, credentials kept out of sight, reconnect backoff. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IngressError, nextAttempt, parseCameraUrl, redactUrl, scrub } from '../src/ingress/ingress-policy.js';

const refused = (raw: unknown, pattern: RegExp) => assert.throws(() => parseCameraUrl(raw), (e: unknown) => e instanceof IngressError && e.status === 400 && pattern.test(e.message), String(raw));

test('parseCameraUrl: rtsp: and rtsps: only, a host, no whitespace or control characters (400 naming url)', () => {
  assert.deepEqual(parseCameraUrl('rtsp://10.0.0.5:554/stream1'), { url: 'rtsp://10.0.0.5:554/stream1', redacted: 'rtsp://10.0.0.5:554/stream1' });
  assert.equal(parseCameraUrl('rtsps://admin:p%40ss@cam.example/live?channel=1').redacted, 'rtsps://***@cam.example/live?channel=1');
  refused('http://10.0.0.5/stream', /^url: only rtsp: and rtsps: URLs are accepted, not http:/);
  refused('file:///etc/passwd', /only rtsp:/);
  refused('rtsp://10.0.0.5/a b', /whitespace/);
  refused('rtsp://10.0.0.5/a\n! fakesink', /control/);
  refused('rtsp:///nohost', /no host|not a URL/);
  refused('not a url', /whitespace|not a URL/);
  refused(42, /a string is required/);
  refused(`rtsp://h/${'a'.repeat(3000)}`, /longer than 2048/);
});

test('redactUrl and scrub keep credentials out of logs and errors', () => {
  assert.equal(redactUrl('rtsp://user:secret@h:554/x'), 'rtsp://***@h:554/x');
  assert.equal(redactUrl('rtsp://h/x'), 'rtsp://h/x');
  assert.equal(redactUrl('rtsp://h/x?channel=1&user=admin&password=hunter2'), 'rtsp://h/x?channel=1&user=***&password=***', 'credentials in the query too');
  assert.equal(scrub('401 for password hunter2 and pw %zz', 'rtsp://h/x?password=hunter2&pwd=%zz'), '401 for password *** and pw ***', 'query secrets, malformed escapes included');
  assert.equal(scrub('bad pw ab', 'rtsp://u:ab@h/x'), 'bad pw ***', 'short passwords too');
  assert.equal(scrub('Could not open rtsp://user:secret@h:554/x (secret refused)', 'rtsp://user:secret@h:554/x'), 'Could not open rtsp://***@h:554/x (*** refused)');
});

test('nextAttempt: delays double from the first, capped; give up after maxAttempts failures in a row', () => {
  const o = { initialDelayMs: 500, maxDelayMs: 3000, maxAttempts: 5 };
  assert.deepEqual([1, 2, 3, 4].map((n) => nextAttempt(n, o)), [{ retryInMs: 500 }, { retryInMs: 1000 }, { retryInMs: 2000 }, { retryInMs: 3000 }]);
  assert.equal(nextAttempt(5, o), 'give-up');
});
