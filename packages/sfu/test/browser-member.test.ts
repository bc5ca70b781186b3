/**
 * BrowserMember's candidate ordering with real werift on both ends (no browser): a candidate
 * goes out only after a description that carries its m-line. Firefox rejects one that comes
 * earlier ("No such transceiver"), which is how this was found (e2e-firefox-sfu.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RTCPeerConnection } from 'werift';
import type { ServerMessage } from '@dari/protocol';
import { BrowserMember } from '../src/werift/browser-member.js';
import { legConfigs } from '../src/werift/peer-config.js';
import { until } from './wait.js';

const quiet = { warn: () => undefined, info: () => undefined, debug: () => undefined };


test('subscriber leg: candidates of m-lines added while an offer is in flight follow the offer that carries them', { timeout: 30_000 }, async () => {
  const sent: ServerMessage[] = [];
  const member = new BrowserMember('sub', 'PA_sub', legConfigs(['127.0.0.1'], undefined), { send: (m) => sent.push(m), logger: quiet, onSubscriberTransport: () => undefined });
  const client = new RTCPeerConnection({ iceServers: [] });
  const offers = () => sent.flatMap((m) => (m.type === 'sfu-sdp' && m.description.type === 'offer' ? [m.description] : []));
  const answer = async (offer: { type: 'offer'; sdp: string }) => {
    await client.setRemoteDescription(offer);
    await client.setLocalDescription(await client.createAnswer());
    await member.answered({ type: 'answer', sdp: client.localDescription!.sdp });
  };
  try {
    for (const kind of ['audio', 'video'] as const) member.subscriber.addTransceiver(kind, { direction: 'sendonly' });
    member.negotiate();
    await until('the first offer', () => offers().length === 1);
    // Two more tracks before the first answer: werift gives them transports of their own (the
    // remote has not accepted BUNDLE yet) and gathers for them while making the second offer.
    for (const kind of ['audio', 'video'] as const) member.subscriber.addTransceiver(kind, { direction: 'sendonly' });
    member.negotiate();
    await answer(offers()[0]! as { type: 'offer'; sdp: string });
    await until('the second offer', () => offers().length === 2);
    await answer(offers()[1]! as { type: 'offer'; sdp: string });
    const midOf = (m: ServerMessage) => (m.type === 'sfu-candidate' ? (m.candidate as { sdpMid?: string } | null)?.sdpMid : undefined);
    await until('candidates of the new m-lines', () => sent.some((m) => midOf(m) === '2') && sent.some((m) => midOf(m) === '3'));
    // Every candidate comes after a description that has its mid.
    const described = new Set<string>();
    for (const m of sent) {
      if (m.type === 'sfu-sdp') for (const [, mid] of m.description.sdp.matchAll(/^a=mid:(\S+)/gm)) described.add(mid!);
      const mid = midOf(m);
      if (mid !== undefined) assert.ok(described.has(mid), `candidate for mid ${mid} sent before a description with that m-line (described: ${[...described].join(',')})`);
    }
    assert.deepEqual([...described].sort(), ['0', '1', '2', '3']);
  } finally {
    await Promise.all(member.close());
    await client.close();
  }
});
