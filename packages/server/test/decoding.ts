/** In-page checks shared by the media tests: what a participant's SFU leg decodes. */
import type { Participant } from '@dari/testkit';

/**
 * Waits until `p` decodes `from`'s camera and keeps decoding; returns the codec it decodes (from
 * the inbound-rtp's codec stats) and when its first frame was presented, ms after its SFU
 * subscriber leg connected.
 */
export async function decodes(p: Participant, from: string, timeoutMs = 30_000): Promise<{ mimeType: string; framesDecoded: number; firstFrameMs: number }> {
  return p.page.evaluate(
    async ({ from, timeoutMs }) => {
      const w = window as unknown as Record<string, any>;
      const sample = async () => {
        const track = w['room'].remoteParticipants.get(from)?.getTrack('camera')?.track;
        const report: any = await w['room'].getPeerConnection('sfu').getStats();
        let out = { mimeType: '', framesDecoded: 0 };
        report.forEach((s: any) => {
          if (s.type === 'inbound-rtp' && s.kind === 'video' && track && s.trackIdentifier === track.id) out = { mimeType: report.get(s.codecId)?.mimeType ?? '', framesDecoded: s.framesDecoded ?? 0 };
        });
        return out;
      };
      const deadline = Date.now() + timeoutMs;
      let first: { framesDecoded: number } | null = null;
      let last = await sample();
      while (Date.now() < deadline) {
        last = await sample();
        if (!first && last.framesDecoded > 5) first = last;
        else if (first && last.framesDecoded >= first.framesDecoded + 10) {
          const log = w['log'];
          const firstFrameMs = (log.frameTimes[`${from}:camera`]?.[0] ?? Infinity) - (log.connectStart + log.peerConnectedAt['sfu:subscriber']);
          return { ...last, firstFrameMs: Math.round(firstFrameMs) };
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`no video decoded from ${from}: ${JSON.stringify(last)}`);
    },
    { from, timeoutMs },
  );
}

