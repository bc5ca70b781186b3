/**
 * P2P file transfer over an RTCDataChannel (RFC 8831), one reliable ordered channel per file,
 * labelled `file:<id>`:
 *   sender → `{"kind":"header", id, name, size, mime, sha256}` (text)
 *   sender → the bytes, in chunks of {@link CHUNK_BYTES} (binary), paced by bufferedAmount
 *   receiver → `{"kind":"result", ok, sha256}` (text) once it has `size` bytes and hashed them
 * The receiver checks SHA-256 (FIPS 180-4, WebCrypto) against the header before accepting.
 * Both ends hold the whole file in memory: fine for the meeting app's sizes (tens of MiB).
 */

/** Chunk size, bytes. 16 KiB is the largest message every browser's SCTP stack interoperates on. */
export const CHUNK_BYTES = 16 * 1024;
/** Sending pauses while more than this many bytes are buffered. */
export const MAX_BUFFERED_BYTES = 1024 * 1024;
/** `bufferedAmountLowThreshold`: sending resumes below this many bytes. */
export const LOW_WATER_BYTES = 256 * 1024;

export const FILE_CHANNEL_PREFIX = 'file:';

/** Progress of one transfer; `bytes` of `size` so far. */
export interface FileProgress {
  id: string;
  name: string;
  size: number;
  bytes: number;
  direction: 'send' | 'receive';
  /** Identity of the other participant. */
  peer: string;
}

/** A file that arrived and passed its integrity check. */
export interface ReceivedFile {
  id: string;
  name: string;
  mime: string;
  size: number;
  /** Hex SHA-256 of the content, equal to the sender's. */
  sha256: string;
  from: string;
  blob: Blob;
}

interface Header {
  kind: 'header';
  id: string;
  name: string;
  size: number;
  mime: string;
  sha256: string;
}

/** Hex SHA-256 of some bytes. */
export async function sha256Hex(data: ArrayBuffer | Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', data as BufferSource);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** Resolves on `event`, rejects if the channel closes first. */
function until(channel: RTCDataChannel, event: 'open' | 'bufferedamountlow', what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onEvent = () => {
      channel.removeEventListener('close', onClose);
      resolve();
    };
    const onClose = () => {
      channel.removeEventListener(event, onEvent);
      reject(new Error(`data channel closed ${what}`));
    };
    channel.addEventListener(event, onEvent, { once: true });
    channel.addEventListener('close', onClose, { once: true });
  });
}

const waitOpen = (channel: RTCDataChannel): Promise<void> =>
  channel.readyState === 'open' ? Promise.resolve() : until(channel, 'open', 'before it opened');

const drained = (channel: RTCDataChannel): Promise<void> =>
  channel.bufferedAmount <= LOW_WATER_BYTES ? Promise.resolve() : until(channel, 'bufferedamountlow', 'during transfer');

/**
 * Sends a file to the peer of `pc`.
 * @returns the hex SHA-256 the receiver confirmed
 * @throws Error when the channel closes early or the receiver reports a hash mismatch
 */
export async function sendFileOver(
  pc: RTCPeerConnection,
  file: Blob,
  name: string,
  peer: string,
  onProgress: (p: FileProgress) => void,
): Promise<string> {
  const id = crypto.randomUUID();
  const data = new Uint8Array(await file.arrayBuffer());
  const sha256 = await sha256Hex(data);
  const channel = pc.createDataChannel(FILE_CHANNEL_PREFIX + id, { ordered: true });
  channel.binaryType = 'arraybuffer';
  channel.bufferedAmountLowThreshold = LOW_WATER_BYTES;
  const result = new Promise<{ ok: boolean; sha256: string }>((resolve, reject) => {
    channel.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      try {
        const msg = JSON.parse(ev.data) as { kind?: string; ok?: boolean; sha256?: string };
        if (msg.kind === 'result') resolve({ ok: msg.ok === true, sha256: String(msg.sha256) });
      } catch (err) {
        reject(err as Error);
      }
    };
    channel.addEventListener('close', () => reject(new Error('data channel closed before the receiver confirmed')));
  });
  // Observed below; this keeps an early close from being an unhandled rejection meanwhile.
  result.catch(() => undefined);
  await waitOpen(channel);
  const header: Header = { kind: 'header', id, name, size: data.byteLength, mime: file.type || 'application/octet-stream', sha256 };
  channel.send(JSON.stringify(header));
  const progress = (bytes: number) => onProgress({ id, name, size: data.byteLength, bytes, direction: 'send', peer });
  for (let offset = 0; offset < data.byteLength; offset += CHUNK_BYTES) {
    if (channel.bufferedAmount > MAX_BUFFERED_BYTES) await drained(channel);
    const end = Math.min(offset + CHUNK_BYTES, data.byteLength);
    channel.send(data.subarray(offset, end));
    progress(end - Math.min(channel.bufferedAmount, end));
  }
  const answer = await result;
  channel.close();
  if (!answer.ok || answer.sha256 !== sha256) throw new Error(`integrity check failed at ${peer}: sent ${sha256}, received ${answer.sha256}`);
  progress(data.byteLength);
  return sha256;
}

/**
 * Receives one file on a `file:` channel opened by the peer.
 * @param onDone called with the verified file, or with an Error on mismatch or early close
 */
export function receiveFileOn(
  channel: RTCDataChannel,
  peer: string,
  onProgress: (p: FileProgress) => void,
  onDone: (result: ReceivedFile | Error) => void,
): void {
  channel.binaryType = 'arraybuffer';
  let header: Header | null = null;
  let received = 0;
  const chunks: ArrayBuffer[] = [];
  let finished = false;
  const finish = (result: ReceivedFile | Error) => {
    if (finished) return;
    finished = true;
    onDone(result);
  };
  channel.onmessage = (ev) => {
    if (typeof ev.data === 'string') {
      try {
        const msg = JSON.parse(ev.data) as Header;
        if (msg.kind === 'header' && Number.isSafeInteger(msg.size) && msg.size >= 0) header = msg;
      } catch {
        finish(new Error('malformed file header'));
      }
      if (header && header.size === 0) completeOrFail();
      return;
    }
    if (!header) return finish(new Error('file data before header'));
    const buf = ev.data as ArrayBuffer;
    chunks.push(buf);
    received += buf.byteLength;
    onProgress({ id: header.id, name: header.name, size: header.size, bytes: Math.min(received, header.size), direction: 'receive', peer });
    if (received >= header.size) completeOrFail();
  };
  channel.onclose = () => finish(new Error(`file channel from ${peer} closed after ${received} bytes`));
  // Hashing can fail (e.g. out of memory): that is this transfer's failure, not an unhandled rejection.
  function completeOrFail(): void {
    complete().catch((err: unknown) => finish(err instanceof Error ? err : new Error(String(err))));
  }
  async function complete(): Promise<void> {
    const h = header!;
    const blob = new Blob(chunks, { type: h.mime });
    const sha256 = await sha256Hex(await blob.arrayBuffer());
    const ok = sha256 === h.sha256 && received === h.size;
    if (channel.readyState === 'open') channel.send(JSON.stringify({ kind: 'result', ok, sha256 }));
    if (ok) finish({ id: h.id, name: h.name, mime: h.mime, size: h.size, sha256, from: peer, blob });
    else finish(new Error(`integrity check failed for ${h.name}: expected ${h.sha256}, got ${sha256} (${received}/${h.size} bytes)`));
  }
}
