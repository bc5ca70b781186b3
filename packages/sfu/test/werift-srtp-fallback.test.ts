/**
 * When patchWeriftSrtp()'s self-test fails (here: werift's AES-CM protect made to differ from
 * the patch, as a werift release with other SRTP bytes would), the SFU logs one warn line and
 * keeps werift's own SRTP. Runs in its own process (node --test runs each file in one), so the
 * broken werift stays here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProtectionProfileAes128CmHmacSha1_80, SrtpSession } from 'werift';
import { SfuManager } from '../src/werift/sfu-manager.js';
import { patchWeriftSrtp } from '../src/werift/patches/index.js';

type Proto = Record<string, (...args: unknown[]) => unknown>;

/** werift's AES-CM cipher prototype, reached through a throwaway session. */
function ctrCipherProto(): Proto {
  const key = Buffer.alloc(16, 1);
  const salt = Buffer.alloc(14, 2);
  const session = new SrtpSession({ keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: key, remoteMasterSalt: salt }, profile: ProtectionProfileAes128CmHmacSha1_80 });
  return Object.getPrototypeOf((session as unknown as { localContext: { cipher: object } }).localContext.cipher) as Proto;
}

test('a failed SRTP self-test: one warn line, and werift keeps its own SRTP', () => {
  const proto = ctrCipherProto();
  const original = proto['encryptRtp']!;
  // "werift changed": its protect now writes one byte differently from the patch's.
  const changed = function (this: unknown, ...args: unknown[]) {
    const out = original.apply(this, args) as Buffer;
    out[out.length - 1] = out[out.length - 1]! ^ 0xff;
    return out;
  };
  proto['encryptRtp'] = changed;
  const warnings: { obj: unknown; msg: string | undefined }[] = [];
  const logger = {
    warn: (obj: unknown, msg?: string) => warnings.push({ obj, msg }),
    info: () => undefined,
    debug: () => undefined,
  };
  const make = () => new SfuManager({ announcedAddresses: [], logger, send: () => undefined });
  make();
  assert.equal(warnings.length, 1, JSON.stringify(warnings));
  assert.match(warnings[0]!.msg ?? '', /werift SRTP patch not applied: using werift's own SRTP/);
  assert.match(String((warnings[0]!.obj as { reason?: string }).reason), /^self-test failed: profile 1: werift's code threw: Failed to authenticate SRTP packet$/);
  assert.equal(proto['encryptRtp'], changed, "werift's (changed) method is back in place, not the patch");
  assert.equal(patchWeriftSrtp().patched, false);
  make();
  assert.equal(warnings.length, 1, 'said once per process');
});
