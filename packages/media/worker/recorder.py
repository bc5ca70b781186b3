#!/usr/bin/python3
"""Dari's recorder worker (egress): one per recording.

`start {path, format, video?: {pt}, audio?: {pt}, transcode?}` binds a loopback UDP port per
stream (RTP: VP8 video, Opus audio) and writes them to `path` (a file name chosen by Dari under
`recording.dir`; the parent never passes a name from a request):
  - format `webm`: VP8 and Opus as they arrive, no re-encoding (room composites and tracks);
  - format `mp4`:  H.264 (x264enc) and AAC (avenc_aac), re-encoded: VP8 and Opus have no place in
    the MP4 files most players read. Fragmented (1 s fragments), so a file cut short by a crash
    still plays up to its last fragment.
`stop` sends EOS so the muxer writes its index (webm cues and duration, mp4 moov), then replies
{bytes}. A write error (full disk, vanished directory) is an `error` event and exit status 3.
Events: `active` (the first bytes reached the file), keyframe-needed {stream: 'video'}.
"""
import os
import sys
import time

from dari_worker import (CommandError, Gst, GstVideo, Worker, bind_udpsrc, caps, link_chain, load_config, make, require_int,
                         require_str)

KEYFRAME_EVENT_INTERVAL_S = 0.5
JITTER_LATENCY_MS = 200  # a recording can wait for reordered packets longer than a live mix


class Recorder(Worker):
    def __init__(self, cfg):
        super().__init__('recorder')
        self.cfg = cfg
        self.path = None
        self.started = False
        self.active = False
        self.last_keyframe_event = 0.0
        self.fps = cfg.get('fps', 15)
        self.video_bitrate_kbps = max(100, cfg.get('videoBitrateBps', 1_000_000) // 1000)

    def handle_start(self, args):
        if self.started:
            raise CommandError('EXISTS', 'already started')
        path = require_str(args, 'path', 4096)
        if not os.path.isabs(path):
            raise CommandError('BAD_ARGUMENT', 'path must be absolute')
        fmt = args.get('format')
        if fmt not in ('webm', 'mp4'):
            raise CommandError('BAD_ARGUMENT', "format must be 'webm' or 'mp4'")
        video, audio = args.get('video'), args.get('audio')
        if video is None and audio is None:
            raise CommandError('BAD_ARGUMENT', 'need a video or an audio stream')
        if fmt == 'webm':
            mux = make('webmmux', self.name('mux'), offset_to_zero=True, writing_app='Dari')
        else:
            mux = make('mp4mux', self.name('mux'), fragment_duration=1000, start_time_selection='first')
        sink = make('filesink', self.name('file'), location=path)
        sink.set_property('async', False)
        self.path = path
        result = {}
        for e in (mux, sink):
            self.pipeline.add(e)
        link_chain([mux, sink])
        if video is not None:
            result['videoPort'] = self._video(mux, fmt, require_int(video, 'pt', 0, 127))
        if audio is not None:
            result['audioPort'] = self._audio(mux, fmt, require_int(audio, 'pt', 0, 127))
        sink.get_static_pad('sink').add_probe(Gst.PadProbeType.BUFFER, self._first_bytes)
        self.started = True
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            message = self.pipeline.get_bus().pop_filtered(Gst.MessageType.ERROR)
            reason = 'the pipeline did not start'
            if message is not None:
                err, debug = message.parse_error()
                reason = '%s (%s)' % (err.message, (debug or '').strip().splitlines()[-1] if debug else '')
            self.pipeline.set_state(Gst.State.NULL)
            raise CommandError('START_FAILED', reason)
        return result

    def _first_bytes(self, pad, info):
        if not self.active:
            self.active = True
            self.event_from_thread('active')
        return Gst.PadProbeReturn.REMOVE

    def _source(self, media, encoding, clock_rate, pt):
        src = make('udpsrc', self.name(media[0] + 'src'), port=0, address='127.0.0.1',
                   caps=caps('application/x-rtp,media=%s,encoding-name=%s,clock-rate=%d,payload=%d' % (media, encoding, clock_rate, pt)))
        self.pipeline.add(src)
        port = bind_udpsrc(src)
        return src, port

    def _video(self, mux, fmt, pt):
        src, port = self._source('video', 'VP8', 90000, pt)
        depay = make('rtpvp8depay', self.name('vdepay'), request_keyframe=True, wait_for_keyframe=True)
        chain = [src, make('rtpjitterbuffer', self.name('vjitter'), latency=JITTER_LATENCY_MS), depay]
        if fmt == 'mp4':
            chain += [make('vp8dec', self.name('vp8dec'), max_errors=-1, discard_corrupted_frames=True), make('videoconvert', None),
                      make('x264enc', self.name('x264enc'), tune='zerolatency', speed_preset='veryfast', bitrate=self.video_bitrate_kbps,
                           key_int_max=self.fps * 2, threads=1),
                      make('capsfilter', None, caps=caps('video/x-h264,profile=main')), make('h264parse', None)]
        chain.append(make('queue', None, max_size_time=2 * Gst.SECOND, max_size_buffers=0, max_size_bytes=0))
        for e in chain[1:]:
            self.pipeline.add(e)
        link_chain(chain)
        chain[-1].get_static_pad('src').link(mux.request_pad_simple('video_%u'))
        depay.get_static_pad('sink').add_probe(Gst.PadProbeType.EVENT_UPSTREAM, self._keyframe_probe)
        return port

    def _audio(self, mux, fmt, pt):
        src, port = self._source('audio', 'OPUS', 48000, pt)
        chain = [src, make('rtpjitterbuffer', self.name('ajitter'), latency=JITTER_LATENCY_MS), make('rtpopusdepay', None)]
        if fmt == 'mp4':
            chain += [make('opusdec', None, plc=True), make('audioconvert', None), make('audioresample', None),
                      make('avenc_aac', self.name('aacenc'), bitrate=128000), make('aacparse', None)]
        else:
            chain.append(make('opusparse', None))
        chain.append(make('queue', None, max_size_time=2 * Gst.SECOND, max_size_buffers=0, max_size_bytes=0))
        for e in chain[1:]:
            self.pipeline.add(e)
        link_chain(chain)
        chain[-1].get_static_pad('src').link(mux.request_pad_simple('audio_%u'))
        return port

    def _keyframe_probe(self, pad, info):
        event = info.get_event()
        if event is not None and GstVideo.video_event_is_force_key_unit(event):
            now = time.monotonic()
            if now - self.last_keyframe_event >= KEYFRAME_EVENT_INTERVAL_S:
                self.last_keyframe_event = now
                self.event_from_thread('keyframe-needed', stream='video')
            return Gst.PadProbeReturn.DROP
        return Gst.PadProbeReturn.OK

    def handle_stats(self, args):
        return {'bytes': self._bytes(), 'active': self.active}

    def _bytes(self):
        try:
            return os.path.getsize(self.path) if self.path else 0
        except OSError:
            return 0

    def eos_timeout_ms(self):
        return 8000

    def on_stopped(self):
        return {'bytes': self._bytes(), 'active': self.active}


def main():
    Recorder(load_config()).run()


if __name__ == '__main__':
    sys.exit(main())
