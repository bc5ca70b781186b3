/**
 * The publishers and subscribers of one bench/mcu run, in one process of their own (so their
 * CPU is not the server's), driven over IPC by run.mjs. Each participant is a werift
 * {@link DariBot} (bench/sfu/dari-bot.mjs) whose publisher leg sends what a GStreamer sender
 * plays to its two loopback UDP ports (VP8 and Opus RTP, relayed packet by packet: the bot does
 * no encoding), and whose subscriber leg counts what the server sends it (RTP bytes, header +
 * payload). One participant, the *observer*, also copies the video it receives to the reader
 * (the probe's picture: the composite in an mcu room, the probe's own track in an sfu room) and
 * to the client decoder.
 *
 * IPC, run.mjs → here: {id, cmd: 'join', index, url, token, streamId, observe?: {readerPort,
 * decoderPorts, probeStream}} → {videoPort, audioPort, joinMs} once the publisher leg is
 * connected; {id, cmd: 'observed', index} → the observer's video streams; {id, cmd: 'stats'} →
 * {rxBytes: [per participant], videoTracks, errors}; {id, cmd: 'close'}.
 * Every wait is bounded.
 */
import { createSocket } from 'node:dgram';
import { MediaStreamTrack } from 'werift';
import { DariBot } from '../sfu/dari-bot.mjs';
import { RTCPeerConnection, peerConfig, onlyCandidatesOn, whenConnected, disableWeriftDefaultStun } from '../sfu/rtc.mjs';

disableWeriftDefaultStun();

/** A DariBot that publishes the RTP a local sender plays to it, and counts what it receives. */
class RelayBot extends DariBot {
  constructor(o) {
    super(o);
    this.rxBytes = 0;
    this.sockets = [];
    this.observer = null; // {readerPort, decoderPorts, probeStream, out}
    this.on('track', (track) => this.onRemoteTrack(track));
  }

  /** Binds the two UDP ports the sender plays to; RTP is relayed once the leg is connected. */
  async publishFromSender({ streamId, timeoutMs = 15_000 }) {
    const pc = (this.publisherPc = new RTCPeerConnection(peerConfig({ address: this.address })));
    this.wire(pc, 'publisher');
    const video = new MediaStreamTrack({ kind: 'video' });
    const audio = new MediaStreamTrack({ kind: 'audio' });
    for (const t of [pc.addTransceiver(video, { direction: 'sendonly' }), pc.addTransceiver(audio, { direction: 'sendonly' })]) t.sender.streamId = streamId;
    const ports = {};
    let connected = false;
    for (const [kind, track] of [['video', video], ['audio', audio]]) {
      const sock = createSocket('udp4');
      this.sockets.push(sock);
      sock.on('message', (m) => {
        if (connected && !this.closed) track.writeRtp(m);
      });
      await new Promise((r) => sock.bind(0, '127.0.0.1', r));
      ports[kind] = sock.address().port;
    }
    await pc.setLocalDescription(await pc.createOffer());
    this.send({ type: 'sfu-sdp', pc: 'publisher', description: { type: 'offer', sdp: onlyCandidatesOn(pc.localDescription.sdp, this.address) } });
    await whenConnected(pc, timeoutMs, 'publisher leg');
    connected = true;
    return ports;
  }

  onRemoteTrack(track) {
    track.onReceiveRtp.subscribe((rtp) => {
      this.rxBytes += rtp.header.serializeSize + rtp.payload.length;
    });
    if (track.kind !== 'video') return;
    const stream = track.streamId ?? this.subscriberPc?.getTransceivers().find((t) => t.receiver.tracks?.includes(track))?.receiver?.remoteStreamId;
    this.videoTracks = [...(this.videoTracks ?? []), { track, stream }];
    if (this.observer) this.observeTrack(track, stream);
  }

  observe({ readerPort, decoderPorts, probeStream }) {
    const out = createSocket('udp4');
    this.sockets.push(out);
    this.observer = { readerPort, decoderPorts: [...decoderPorts], probeStream, out, streams: [] };
    for (const { track, stream } of this.videoTracks ?? []) this.observeTrack(track, stream);
  }

  observeTrack(track, stream) {
    const o = this.observer;
    const decoderPort = o.decoderPorts.shift();
    const toReader = stream === o.probeStream;
    o.streams.push({ stream, decoderPort, toReader });
    let first = true;
    track.onReceiveRtp.subscribe((rtp) => {
      if (decoderPort === undefined && !toReader) return;
      if (first) {
        // The reader and decoder start mid-stream: ask for a keyframe.
        first = false;
        const t = this.subscriberPc?.getTransceivers().find((x) => x.receiver.tracks?.includes(track));
        t?.receiver.sendRtcpPLI(rtp.header.ssrc).catch(() => undefined);
      }
      const buf = rtp.serialize();
      if (decoderPort !== undefined) o.out.send(buf, decoderPort, '127.0.0.1');
      if (toReader) {
        this.firstProbeRtpMs ??= performance.now();
        o.out.send(buf, o.readerPort, '127.0.0.1');
      }
    });
  }

  async close() {
    for (const s of this.sockets) s.close();
    await super.close();
  }
}

const bots = [];

async function handle(m) {
  switch (m.cmd) {
    case 'join': {
      const bot = new RelayBot({ url: m.url, token: m.token });
      bots[m.index] = bot;
      if (m.observe) bot.observe(m.observe);
      const t0 = performance.now();
      await bot.connect();
      const ports = await bot.publishFromSender({ streamId: m.streamId });
      return { ...ports, joinMs: performance.now() - t0 };
    }
    case 'observed': {
      const o = bots[m.index].observer;
      return { streams: o?.streams ?? [], firstProbeRtpAt: bots[m.index].firstProbeRtpMs ?? null };
    }
    case 'stats':
      return { rxBytes: bots.map((b) => b?.rxBytes ?? 0), videoTracks: bots.map((b) => b?.videoTracks?.length ?? 0), errors: bots.flatMap((b) => b?.errors ?? []) };
    case 'close':
      await Promise.race([Promise.allSettled(bots.map((b) => b?.close())), new Promise((r) => setTimeout(r, 5000))]);
      return {};
    default:
      throw new Error(`unknown command ${m.cmd}`);
  }
}

process.on('message', (m) => {
  handle(m).then(
    (result) => process.send({ id: m.id, result }),
    (err) => process.send({ id: m.id, error: err.message }),
  );
});
process.on('disconnect', () => process.exit(0));
