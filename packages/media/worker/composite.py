#!/usr/bin/python3
"""Dari's composite worker (MCU mixer): one per MCU room or room-composite recording.

Inputs, per participant, as RTP over loopback UDP on ports this worker binds (port 0, reported in
the reply): VP8 video and Opus audio. Outputs, as RTP to loopback destinations the parent adds:
  - `video`: the grid (ceil(sqrt(n)) columns, as Kurento's Composite), each participant's name
    on its tile, the active speaker framed, encoded VP8 (bitrate settable at run time, keyframe on
    request);
  - `audio` for participant P: everyone's audio but P's (N-1 mix), Opus;
  - `mix`: everyone's audio (for recording), Opus.

Config (argv[1], JSON): width, height, fps, bitrateBps, maxBitrateBps, videoPt, audioPt, latencyMs.
Commands: add-participant, remove-participant, set-name, add-video, remove-video, add-audio,
remove-audio, set-active-speaker, add-output, remove-output, set-bitrate, request-keyframe, stats.
Events: keyframe-needed {participant}, input-error {participant, kind, reason}, error, warning.
"""
import random
import sys
import time

from dari_worker import (EXIT_STALLED, CommandError, GLib, Gst, GstVideo, Worker, add_and_sync, caps, link_chain, load_config,
                         make, remove_elements, require_id, require_int, require_loopback, require_str, bind_udpsrc, label_text)
from composite_layout import grid, inset, font_px

AUDIO_CAPS = 'audio/x-raw,format=S16LE,rate=48000,channels=1,layout=interleaved'  # mono: what browsers send
TILE_COLOR = 0xff262626  # ARGB of a tile without video
HIGHLIGHT_COLOR = 0xfff5c400  # ARGB of the active speaker's frame
KEYFRAME_EVENT_INTERVAL_S = 0.5
STALL_TIMEOUT_S = 5


def _answer_allocation_here(pad, info):
    query = info.get_query()
    if query is not None and query.type == Gst.QueryType.ALLOCATION:
        return Gst.PadProbeReturn.DROP  # answered (with no pool): not forwarded
    return Gst.PadProbeReturn.OK


class Participant:
    def __init__(self, pid, name, order):
        self.id = pid
        self.name = name
        self.order = order
        self.tile = []  # elements of the tile branch (video or backdrop), last one is the textoverlay
        self.overlay = None
        self.tile_caps = None
        self.pad = None  # compositor sink pad
        self.video_port = None
        self.audio = None  # AudioInput
        self.counts = {'videoPackets': 0, 'videoFrames': 0, 'audioPackets': 0}
        self.last_keyframe_event = 0.0


class AudioInput:
    def __init__(self, elements, tee, port):
        self.elements = elements
        self.tee = tee
        self.port = port
        self.links = {}  # mix key -> (queue, tee pad, mixer pad)


class Mix:
    """An audiomixer with a live silent base (so it runs with no inputs) → Opus → RTP → multiudpsink."""

    def __init__(self, key, elements, mixer, sink, ssrc):
        self.key = key  # participant id for an N-1 mix, '' for the full mix
        self.elements = elements
        self.mixer = mixer
        self.sink = sink
        self.ssrc = ssrc


class Composite(Worker):
    def __init__(self, cfg):
        super().__init__('composite')
        self.width = cfg.get('width', 640)
        self.height = cfg.get('height', 360)
        self.fps = cfg.get('fps', 15)
        self.max_bitrate = cfg.get('maxBitrateBps', 1_500_000)
        self.bitrate = min(cfg.get('bitrateBps', 800_000), self.max_bitrate)
        self.video_pt = cfg.get('videoPt', 96)
        self.audio_pt = cfg.get('audioPt', 111)
        self.latency_ms = cfg.get('latencyMs', 50)
        self.participants = {}
        self.order = 0
        self.speaker = None
        self.mixes = {}
        self.outputs = {}  # output id -> (stream key, host, port)
        self.frames = 0
        self._last_frames = (0, time.monotonic())
        self.element_owner = {}  # element name -> (participant id, kind)
        self._build_video()
        self.pipeline.set_state(Gst.State.PLAYING)
        GLib.timeout_add(1000, self._watchdog)

    # ---------------------------------------------------------------- video graph
    def _build_video(self):
        p = self.pipeline
        self.compositor = make('compositor', self.name('compositor'), background='black', ignore_inactive_pads=True)
        canvas = make('videotestsrc', self.name('canvas'), is_live=True, pattern='black')  # drives the clock
        canvas_caps = make('capsfilter', None, caps=caps('video/x-raw,width=16,height=16,framerate=%d/1' % self.fps))
        highlight = make('videotestsrc', self.name('highlight'), is_live=True, pattern='solid-color', foreground_color=HIGHLIGHT_COLOR)
        highlight_caps = make('capsfilter', None, caps=caps('video/x-raw,format=I420,width=16,height=16,framerate=%d/1' % self.fps))
        out_caps = make('capsfilter', None, caps=caps('video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1,pixel-aspect-ratio=1/1'
                                                          % (self.width, self.height, self.fps)))
        queue = make('queue', None, max_size_buffers=2, max_size_time=0, max_size_bytes=0, leaky='downstream')
        self.encoder = make('vp8enc', self.name('vp8enc'), deadline=1, cpu_used=8, end_usage='cbr', target_bitrate=self.bitrate,
                            lag_in_frames=0, keyframe_max_dist=self.fps * 10, threads=1, error_resilient='default', undershoot=95,
                            buffer_size=1000, buffer_initial_size=500, buffer_optimal_size=600, max_quantizer=56)
        self.video_pay = make('rtpvp8pay', None, pt=self.video_pt, mtu=1200, picture_id_mode='15-bit', ssrc=random.getrandbits(32))
        self.video_sink = make('multiudpsink', None, sync=False)
        self.video_sink.set_property('async', False)
        for e in (self.compositor, canvas, canvas_caps, highlight, highlight_caps, out_caps, queue, self.encoder, self.video_pay, self.video_sink):
            p.add(e)
        link_chain([canvas, canvas_caps])
        pad = self.compositor.request_pad_simple('sink_%u')
        pad.set_property('zorder', 0)
        pad.set_property('width', self.width)
        pad.set_property('height', self.height)
        canvas_caps.get_static_pad('src').link(pad)
        link_chain([highlight, highlight_caps])
        self.highlight_pad = self.compositor.request_pad_simple('sink_%u')
        self.highlight_pad.set_property('zorder', 1)
        self.highlight_pad.set_property('alpha', 0.0)
        highlight_caps.get_static_pad('src').link(self.highlight_pad)
        link_chain([self.compositor, out_caps, queue, self.encoder, self.video_pay, self.video_sink])
        self.encoder.get_static_pad('sink').add_probe(Gst.PadProbeType.BUFFER, self._count_frame)

    def _count_frame(self, pad, info):
        self.frames += 1
        return Gst.PadProbeReturn.OK

    def _watchdog(self):
        if self.stopping:
            return False
        now = time.monotonic()
        frames, since = self._last_frames
        if self.frames != frames:
            self._last_frames = (self.frames, now)
        elif now - since > STALL_TIMEOUT_S:
            self.event('error', reason='composite stalled: no frame for %d s' % STALL_TIMEOUT_S)
            self.fatal(EXIT_STALLED)
        return True

    # ---------------------------------------------------------------- layout
    def _relayout(self):
        ordered = sorted(self.participants.values(), key=lambda x: x.order)
        rects = grid(len(ordered), self.width, self.height)
        for part, rect in zip(ordered, rects):
            part.rect = rect
            x, y, w, h = inset(rect, self.height)
            if part.pad is not None:
                part.pad.set_property('xpos', x)
                part.pad.set_property('ypos', y)
                part.pad.set_property('width', w)
                part.pad.set_property('height', h)
            if part.tile_caps is not None:
                part.tile_caps.set_property('caps', self._tile_caps(part, w, h))
            if part.overlay is not None:
                part.overlay.set_property('font-desc', 'Sans Bold %dpx' % font_px(w, h))
        self._place_highlight()

    def _tile_caps(self, part, w, h):
        if part.video_port is not None:
            return caps('video/x-raw,width=%d,height=%d,pixel-aspect-ratio=1/1' % (w, h))
        return caps('video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1' % (w, h, self.fps))

    def _place_highlight(self):
        part = self.participants.get(self.speaker) if self.speaker else None
        if part is None or not hasattr(part, 'rect'):
            self.highlight_pad.set_property('alpha', 0.0)
            return
        x, y, w, h = part.rect
        for key, value in (('xpos', x), ('ypos', y), ('width', w), ('height', h), ('alpha', 1.0)):
            self.highlight_pad.set_property(key, value)

    # ---------------------------------------------------------------- tiles
    def _own(self, elements, pid, kind):
        for e in elements:
            self.element_owner[e.get_name()] = (pid, kind)

    def _attach_tile(self, part, elements, tile_caps, overlay):
        """Adds a tile branch (elements ending in the overlay) and links it to a new compositor pad."""
        part.tile, part.tile_caps, part.overlay = elements, tile_caps, overlay
        overlay.set_property('text', label_text(part.name))
        for e in elements:
            self.pipeline.add(e)
        link_chain(elements)
        pad = self.compositor.request_pad_simple('sink_%u')
        pad.set_property('zorder', 2)
        part.pad = pad
        self._relayout()
        overlay.get_static_pad('src').link(pad)
        for e in reversed(elements):  # downstream first: a live source must not push into a flushing pad
            e.sync_state_with_parent()

    def _detach_tile(self, part):
        elements, pad = part.tile, part.pad
        part.tile, part.tile_caps, part.overlay, part.pad = [], None, None, None
        remove_elements(self.pipeline, elements)
        if pad is not None:
            self.compositor.release_request_pad(pad)
        for e in elements:
            self.element_owner.pop(e.get_name(), None)

    def _overlay(self):
        return make('textoverlay', self.name('label'), halignment='left', valignment='bottom', shaded_background=True, xpad=6, ypad=4,
                    auto_resize=False, wait_text=False, draw_shadow=False, wrap_mode='none')

    def _backdrop(self, part):
        src = make('videotestsrc', self.name('backdrop'), is_live=True, pattern='solid-color', foreground_color=TILE_COLOR)
        tile_caps = make('capsfilter', self.name('tilecaps'))
        tile_caps.set_property('caps', self._tile_caps(part, 16, 16))
        overlay = self._overlay()
        self._own([src, tile_caps, overlay], part.id, 'backdrop')
        self._attach_tile(part, [src, tile_caps, overlay], tile_caps, overlay)

    def _video_branch(self, part):
        src = make('udpsrc', self.name('vsrc'), port=0, address='127.0.0.1',
                   caps=caps('application/x-rtp,media=video,encoding-name=VP8,clock-rate=90000,payload=%d' % self.video_pt))
        port = bind_udpsrc(src)  # binds now, so the port can be replied
        jitter = make('rtpjitterbuffer', self.name('vjitter'), latency=self.latency_ms)
        depay = make('rtpvp8depay', self.name('vdepay'), request_keyframe=True, wait_for_keyframe=True)
        decoder = make('vp8dec', self.name('vp8dec'), max_errors=-1, discard_corrupted_frames=True, automatic_request_sync_points=True,
                       threads=1)
        scale = make('videoscale', self.name('vscale'), add_borders=True)
        convert = make('videoconvert', self.name('vconvert'))
        tile_caps = make('capsfilter', self.name('tilecaps'))
        part.video_port = port
        tile_caps.set_property('caps', self._tile_caps(part, 16, 16))
        overlay = self._overlay()
        elements = [src, jitter, depay, decoder, convert, scale, tile_caps, overlay]
        self._own(elements, part.id, 'video')
        src.get_static_pad('src').add_probe(Gst.PadProbeType.BUFFER, self._counter(part, 'videoPackets'))
        decoder.get_static_pad('src').add_probe(Gst.PadProbeType.BUFFER, self._counter(part, 'videoFrames'))
        depay.get_static_pad('sink').add_probe(Gst.PadProbeType.EVENT_UPSTREAM, self._keyframe_probe(part))
        self._attach_tile(part, elements, tile_caps, overlay)
        return port

    def _counter(self, part, key):
        def probe(pad, info):
            part.counts[key] += 1
            return Gst.PadProbeReturn.OK
        return probe

    def _keyframe_probe(self, part):
        def probe(pad, info):
            event = info.get_event()
            if event is not None and GstVideo.video_event_is_force_key_unit(event):
                now = time.monotonic()
                if now - part.last_keyframe_event >= KEYFRAME_EVENT_INTERVAL_S:
                    part.last_keyframe_event = now
                    self.event_from_thread('keyframe-needed', participant=part.id)
                return Gst.PadProbeReturn.DROP  # nobody upstream can answer it: the parent sends the PLI
            return Gst.PadProbeReturn.OK
        return probe

    # ---------------------------------------------------------------- commands: participants
    def _participant(self, args):
        pid = require_id(args, 'participant')
        part = self.participants.get(pid)
        if part is None:
            raise CommandError('NOT_FOUND', 'no participant %s' % pid)
        return part

    def handle_add_participant(self, args):
        pid = require_id(args, 'participant')
        name = require_str(args, 'name', 128, '')
        if pid in self.participants:
            raise CommandError('EXISTS', 'participant %s exists' % pid)
        self.order += 1
        part = Participant(pid, name, self.order)
        self.participants[pid] = part
        self._backdrop(part)
        return {}

    def handle_remove_participant(self, args):
        part = self._participant(args)
        self._remove_audio(part)
        self._detach_tile(part)
        mix = self.mixes.pop(part.id, None)
        if mix is not None:
            self._remove_mix(mix)
        del self.participants[part.id]
        if self.speaker == part.id:
            self.speaker = None
        self._relayout()
        return {}

    def handle_set_name(self, args):
        part = self._participant(args)
        part.name = require_str(args, 'name', 128)
        if part.overlay is not None:
            part.overlay.set_property('text', label_text(part.name))
        return {}

    def handle_set_active_speaker(self, args):
        if args.get('participant') is None:
            self.speaker = None
        else:
            self.speaker = self._participant(args).id
        self._place_highlight()
        return {}

    def handle_add_video(self, args):
        part = self._participant(args)
        if part.video_port is not None:
            return {'port': part.video_port}
        self._detach_tile(part)
        return {'port': self._video_branch(part)}

    def handle_remove_video(self, args):
        part = self._participant(args)
        if part.video_port is None:
            return {}
        self._detach_tile(part)
        part.video_port = None
        self._backdrop(part)
        return {}

    # ---------------------------------------------------------------- audio
    def handle_add_audio(self, args):
        part = self._participant(args)
        if part.audio is not None:
            return {'port': part.audio.port}
        src = make('udpsrc', self.name('asrc'), port=0, address='127.0.0.1',
                   caps=caps('application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload=%d' % self.audio_pt))
        port = bind_udpsrc(src)
        jitter = make('rtpjitterbuffer', self.name('ajitter'), latency=self.latency_ms)
        elements = [src, jitter, make('rtpopusdepay', self.name('adepay')), make('opusdec', self.name('opusdec'), plc=True),
                    make('audioconvert', self.name('aconvert')), make('audioresample', self.name('aresample')),
                    make('capsfilter', None, caps=caps(AUDIO_CAPS)), make('tee', self.name('atee'), allow_not_linked=True)]
        self._own(elements, part.id, 'audio')
        src.get_static_pad('src').add_probe(Gst.PadProbeType.BUFFER, self._counter(part, 'audioPackets'))
        for e in elements:
            self.pipeline.add(e)
        link_chain(elements)
        # The tee would forward the decoder's ALLOCATION query into every mix's queue, where it
        # waits for the mixer (an aggregator) to take it: with a few mixes that wait never ends and
        # the input stalls (seen with 3 participants). Raw audio needs no pool from downstream.
        elements[-1].get_static_pad('sink').add_probe(Gst.PadProbeType.QUERY_DOWNSTREAM, _answer_allocation_here)
        part.audio = AudioInput(elements, elements[-1], port)
        for mix in self.mixes.values():
            if mix.key != part.id:
                self._link_audio(part, mix)
        for e in reversed(elements):  # downstream first: a live source must not push into a flushing pad
            e.sync_state_with_parent()
        return {'port': port}

    def handle_remove_audio(self, args):
        self._remove_audio(self._participant(args))
        return {}

    def _remove_audio(self, part):
        audio = part.audio
        if audio is None:
            return
        part.audio = None
        remove_elements(self.pipeline, audio.elements)
        for key in list(audio.links):
            self._unlink_audio(audio, key)
        for e in audio.elements:
            self.element_owner.pop(e.get_name(), None)

    def _link_audio(self, part, mix):
        queue = make('queue', None, max_size_time=200 * Gst.MSECOND, max_size_buffers=0, max_size_bytes=0, leaky='downstream')
        self.pipeline.add(queue)
        # Activate the queue before the tee can push into it: a push into a flushing pad returns
        # FLUSHING through the tee and stops the input's streaming thread for good.
        queue.sync_state_with_parent()
        # Upstream link first: the mixer queries its new pad's latency at once, and a query that
        # meets an unlinked pad fails (a live aggregator whose latency query fails answers EOS,
        # which would stop the mix and every input linked to it). Meanwhile the queue's pushes
        # are NOT_LINKED (the tee goes on); linking its src pad sends RECONFIGURE, which restarts it.
        tee_pad = part.audio.tee.request_pad_simple('src_%u')
        tee_pad.link(queue.get_static_pad('sink'))
        mixer_pad = mix.mixer.request_pad_simple('sink_%u')
        queue.get_static_pad('src').link(mixer_pad)
        part.audio.links[mix.key] = (queue, tee_pad, mixer_pad)

    def _unlink_audio(self, audio, key):
        """Detaches one tee branch without ever letting the tee push into a stopped queue (that
        FLUSHING would stop the input's streaming thread): unlink on an IDLE probe, then tear down."""
        queue, tee_pad, mixer_pad = audio.links.pop(key)
        mix = self.mixes.get(key)

        def finish():
            queue.set_state(Gst.State.NULL)
            if queue.get_parent() is self.pipeline:
                self.pipeline.remove(queue)
            audio.tee.release_request_pad(tee_pad)
            if mix is not None and mixer_pad.get_parent() is mix.mixer:
                mix.mixer.release_request_pad(mixer_pad)
            return False

        def on_idle(pad, info):
            pad.unlink(queue.get_static_pad('sink'))
            GLib.idle_add(finish)
            return Gst.PadProbeReturn.REMOVE

        tee_pad.add_probe(Gst.PadProbeType.IDLE, on_idle)

    def _build_mix(self, key, ssrc):
        # No ignore-inactive-pads on the audiomixer: GStreamer 1.22's audioaggregator answers EOS
        # to its first buffer when every pad is still inactive, and the mix never runs. Live, it
        # waits at most its latency for a silent pad anyway.
        base = make('audiotestsrc', self.name('silence'), is_live=True, wave='silence', samplesperbuffer=480)
        elements = [base, make('capsfilter', None, caps=caps(AUDIO_CAPS)),
                    make('audiomixer', self.name('mixer')),
                    make('capsfilter', None, caps=caps(AUDIO_CAPS)),
                    make('opusenc', self.name('opusenc'), bitrate=48000, frame_size=20, audio_type='voice'),
                    make('rtpopuspay', None, pt=self.audio_pt, ssrc=ssrc),
                    make('multiudpsink', None, sync=False)]
        elements[-1].set_property('async', False)
        mix = Mix(key, elements, elements[2], elements[-1], ssrc)
        assert mix.mixer.get_factory().get_name() == 'audiomixer'
        for e in elements:
            self.pipeline.add(e)
        link_chain(elements)
        self.mixes[key] = mix
        # Downstream of the mixer first (a live source must not push into a flushing pad); the
        # silent base to PAUSED before the mixer starts (its pads active, so the mixer's latency
        # query succeeds: when it fails, the live aggregator answers EOS and the mix never runs);
        # then the mixer; then the base to PLAYING.
        for e in reversed(elements[3:]):
            e.sync_state_with_parent()
        for e in reversed(elements[:2]):
            e.set_state(Gst.State.PAUSED)
        elements[2].sync_state_with_parent()
        for e in reversed(elements[:2]):
            e.sync_state_with_parent()
        for part in self.participants.values():
            if part.audio is not None and part.id != key:
                self._link_audio(part, mix)
        return mix

    def _remove_mix(self, mix):
        for part in self.participants.values():
            if part.audio is not None and mix.key in part.audio.links:
                self._unlink_audio(part.audio, mix.key)
        remove_elements(self.pipeline, mix.elements)
        for oid in [o for o, v in self.outputs.items() if v[0] == 'audio:' + mix.key or (mix.key == '' and v[0] == 'mix')]:
            del self.outputs[oid]

    # ---------------------------------------------------------------- outputs
    def handle_add_output(self, args):
        kind = args.get('kind')
        host = require_loopback(args)
        port = require_int(args, 'port', 1, 65535)
        ssrc = args.get('ssrc')
        if ssrc is not None:
            ssrc = require_int(args, 'ssrc', 1, 0xffffffff)
        if kind == 'video':
            key, sink = 'video', self.video_sink
            if ssrc is not None and not self.outputs:
                self.video_pay.set_property('ssrc', ssrc)
            out_ssrc = self.video_pay.get_property('ssrc')
            self._force_keyframe()
        elif kind in ('audio', 'mix'):
            mix_key = self._participant(args).id if kind == 'audio' else ''
            mix = self.mixes.get(mix_key) or self._build_mix(mix_key, ssrc if ssrc is not None else random.getrandbits(32))
            key, sink, out_ssrc = ('audio:' + mix_key) if kind == 'audio' else 'mix', mix.sink, mix.ssrc
        else:
            raise CommandError('BAD_ARGUMENT', "kind must be 'video', 'audio' or 'mix'")
        sink.emit('add', host, port)
        oid = self.name('out')
        self.outputs[oid] = (key, host, port)
        return {'output': oid, 'ssrc': out_ssrc, 'pt': self.video_pt if kind == 'video' else self.audio_pt}

    def handle_remove_output(self, args):
        oid = args.get('output')
        if oid not in self.outputs:
            raise CommandError('NOT_FOUND', 'no such output')
        key, host, port = self.outputs.pop(oid)
        if key == 'video':
            self.video_sink.emit('remove', host, port)
        else:
            mix = self.mixes.get('' if key == 'mix' else key[len('audio:'):])
            if mix is not None:
                mix.sink.emit('remove', host, port)
        return {}

    # ---------------------------------------------------------------- encoder control
    def _force_keyframe(self):
        event = GstVideo.video_event_new_upstream_force_key_unit(Gst.CLOCK_TIME_NONE, True, 0)
        self.encoder.get_static_pad('src').send_event(event)

    def handle_request_keyframe(self, args):
        self._force_keyframe()
        return {}

    def handle_set_bitrate(self, args):
        bps = require_int(args, 'bps', 1, 100_000_000)
        self.bitrate = max(50_000, min(bps, self.max_bitrate))
        self.encoder.set_property('target-bitrate', self.bitrate)
        return {'bps': self.bitrate}

    def handle_stats(self, args):
        return {'frames': self.frames, 'bitrateBps': self.bitrate, 'speaker': self.speaker,
                'participants': {p.id: dict(p.counts, videoPort=p.video_port, audioPort=p.audio.port if p.audio else None,
                                            tile=list(p.rect) if hasattr(p, 'rect') else None)
                                 for p in self.participants.values()}}

    # ---------------------------------------------------------------- errors of one input
    def on_element_error(self, element, err, debug):
        owner = self.element_owner.get(element.get_name()) if element is not None else None
        if owner is None:
            return False
        pid, kind = owner
        part = self.participants.get(pid)
        if part is None:
            return True
        self.event('input-error', participant=pid, kind=kind, reason=err.message)
        if kind == 'audio':
            self._remove_audio(part)
        else:
            self._detach_tile(part)
            part.video_port = None
            self._backdrop(part)
        return True


def main():
    cfg = load_config()
    worker = Composite(cfg)
    worker.run()


if __name__ == '__main__':
    sys.exit(main())
