"""Shared plumbing of Dari's GStreamer media workers (composite.py, recorder.py).

A worker is one child process of `dari serve` with one GStreamer pipeline. It talks to its parent
over a command channel of JSON lines:

  parent -> worker (stdin):   {"id": 7, "cmd": "add-video", "args": {...}}
  worker -> parent (stdout):  {"id": 7, "ok": true, "result": {...}}
                              {"id": 7, "ok": false, "error": {"code": "BAD_ARGUMENT", "message": "..."}}
                              {"event": "keyframe-needed", ...}   (no id: unsolicited)

Every pipeline is built element by element with Gst.ElementFactory.make and set_property: no
string from the parent (a participant's name, a file path) is ever parsed as a pipeline
description. Element names are the worker's own counters.

Lifetime: stdin closing (the parent died) or SIGTERM stops the worker like the `stop` command
does (EOS through the pipeline so files are finalized, then exit 0). A bus ERROR that the worker
cannot contain is reported as an `error` event and the process exits with status 3.
"""
import json
import os
import signal
import sys
import threading

import gi

gi.require_version('Gst', '1.0')
gi.require_version('GstVideo', '1.0')
from gi.repository import Gio, GLib, GObject, Gst, GstVideo  # noqa: E402,F401

Gst.init(None)

# Exit statuses the parent tells apart (packages/media/src/worker.ts).
EXIT_OK = 0
EXIT_BAD_CONFIG = 2
EXIT_PIPELINE_ERROR = 3
EXIT_STALLED = 4


class CommandError(Exception):
    """A command that cannot be carried out; becomes {"ok": false, "error": {code, message}}."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code
        self.message = message


def make(factory, name=None, **props):
    """Creates an element and sets its properties (Python names with _ for -)."""
    element = Gst.ElementFactory.make(factory, name)
    if element is None:
        raise CommandError('GSTREAMER_MISSING', 'GStreamer element %s is not installed' % factory)
    for key, value in props.items():
        set_prop(element, key.replace('_', '-'), value)
    return element


def set_prop(element, key, value):
    """set_property, with enum and flags values given by their nick (e.g. pattern='solid-color')."""
    if isinstance(value, str):
        spec = element.find_property(key)
        if spec is not None and (GObject.type_is_a(spec.value_type, GObject.TYPE_ENUM) or GObject.type_is_a(spec.value_type, GObject.TYPE_FLAGS)):
            Gst.util_set_object_arg(element, key, value)
            return
    element.set_property(key, value)


def caps(text):
    """Caps from Dari's own constant strings (never from the parent's input)."""
    return Gst.Caps.from_string(text)


def require_int(args, key, lo, hi, default=None):
    value = args.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < lo or value > hi:
        raise CommandError('BAD_ARGUMENT', '%s must be an integer in [%d, %d]' % (key, lo, hi))
    return value


def require_str(args, key, max_len=256, default=None):
    value = args.get(key, default)
    if not isinstance(value, str) or len(value) > max_len:
        raise CommandError('BAD_ARGUMENT', '%s must be a string of at most %d characters' % (key, max_len))
    return value


def require_id(args, key='id'):
    value = args.get(key)
    if not isinstance(value, str) or not (1 <= len(value) <= 64) or not all(c.isalnum() or c in '-_' for c in value):
        raise CommandError('BAD_ARGUMENT', '%s must be 1-64 characters of [A-Za-z0-9_-]' % key)
    return value


def require_loopback(args, key='host'):
    host = args.get(key, '127.0.0.1')
    if host not in ('127.0.0.1', '::1'):
        raise CommandError('BAD_ARGUMENT', '%s must be a loopback address (127.0.0.1 or ::1)' % key)
    return host


def bind_udpsrc(udpsrc):
    """Binds a udpsrc (port 0: the kernel picks a free one) and returns the port it bound."""
    if udpsrc.set_state(Gst.State.READY) == Gst.StateChangeReturn.FAILURE:
        udpsrc.set_state(Gst.State.NULL)
        raise CommandError('INTERNAL', 'cannot bind a UDP port')
    sock = udpsrc.get_property('used-socket')
    if sock is None:
        udpsrc.set_state(Gst.State.NULL)
        raise CommandError('INTERNAL', 'udpsrc has no socket after going to READY')
    return sock.get_local_address().get_port()


def label_text(name):
    """A participant's name as textoverlay text, which Pango reads as markup: escaped."""
    return GLib.markup_escape_text(name, -1)


def add_and_sync(pipeline, elements):
    for e in elements:
        pipeline.add(e)
    for e in reversed(elements):  # downstream first: a live source must not push into a flushing pad
        e.sync_state_with_parent()


def link_chain(elements):
    for a, b in zip(elements, elements[1:]):
        if not a.link(b):
            raise CommandError('INTERNAL', 'cannot link %s to %s' % (a.get_name(), b.get_name()))


def remove_elements(pipeline, elements):
    """Stops elements (streaming threads first) and removes them from the pipeline."""
    for e in elements:
        e.set_state(Gst.State.NULL)
    for e in elements:
        if e.get_parent() is pipeline:
            pipeline.remove(e)


class Worker:
    """The command channel, the bus, the stop sequence. Subclasses add handle_<cmd> methods."""

    def __init__(self, kind):
        self.kind = kind
        self.loop = GLib.MainLoop()
        self.pipeline = Gst.Pipeline.new(kind)
        self.stopping = False
        self.stop_reply_ids = []
        self._serial = 0
        self._buffer = b''
        self._out_lock = threading.Lock()
        bus = self.pipeline.get_bus()
        bus.add_signal_watch()
        bus.connect('message', self._on_bus)
        GLib.io_add_watch(GLib.IOChannel.unix_new(sys.stdin.fileno()), GLib.PRIORITY_DEFAULT,
                          GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR, self._on_stdin)
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, signal.SIGTERM, self._on_sigterm)

    # ---- naming ----
    def name(self, prefix):
        self._serial += 1
        return '%s%d' % (prefix, self._serial)

    # ---- output (thread-safe: streaming threads may call event()) ----
    def _write(self, obj):
        line = json.dumps(obj, separators=(',', ':')) + '\n'
        with self._out_lock:
            sys.stdout.write(line)
            sys.stdout.flush()

    def event(self, name, **fields):
        fields['event'] = name
        self._write(fields)

    def event_from_thread(self, name, **fields):
        GLib.idle_add(lambda: (self.event(name, **fields), False)[1])

    # ---- input ----
    def _on_stdin(self, channel, condition):
        try:
            chunk = os.read(sys.stdin.fileno(), 65536)
        except OSError:
            chunk = b''
        if not chunk:
            self.stop(None)  # parent gone: finalize and exit
            return False
        self._buffer += chunk
        while b'\n' in self._buffer:
            line, self._buffer = self._buffer.split(b'\n', 1)
            if line.strip():
                self._dispatch(line)
        if len(self._buffer) > 1 << 20:
            self._buffer = b''
            self.event('protocol-error', message='command line longer than 1 MiB dropped')
        return True

    def _dispatch(self, line):
        try:
            msg = json.loads(line)
        except ValueError:
            self.event('protocol-error', message='not JSON')
            return
        if not isinstance(msg, dict) or not isinstance(msg.get('id'), int) or not isinstance(msg.get('cmd'), str):
            self.event('protocol-error', message='expected {id, cmd, args}')
            return
        cid, cmd, args = msg['id'], msg['cmd'], msg.get('args') or {}
        if not isinstance(args, dict):
            self._write({'id': cid, 'ok': False, 'error': {'code': 'BAD_ARGUMENT', 'message': 'args must be an object'}})
            return
        if cmd == 'ping':
            self._write({'id': cid, 'ok': True, 'result': {}})
            return
        if cmd == 'stop':
            self.stop(cid)
            return
        if self.stopping:
            self._write({'id': cid, 'ok': False, 'error': {'code': 'STOPPING', 'message': 'worker is stopping'}})
            return
        handler = getattr(self, 'handle_' + cmd.replace('-', '_'), None)
        if handler is None:
            self._write({'id': cid, 'ok': False, 'error': {'code': 'UNKNOWN_COMMAND', 'message': 'unknown command ' + cmd[:40]}})
            return
        try:
            result = handler(args)
            self._write({'id': cid, 'ok': True, 'result': result if result is not None else {}})
        except CommandError as err:
            self._write({'id': cid, 'ok': False, 'error': {'code': err.code, 'message': err.message}})
        except Exception as err:  # a bug in a handler must not kill the room: report it
            self._write({'id': cid, 'ok': False, 'error': {'code': 'INTERNAL', 'message': '%s: %s' % (type(err).__name__, err)}})

    # ---- bus ----
    def _on_bus(self, bus, message):
        try:
            self._handle_bus(message)
        except Exception as err:  # a bug here must not leave a half-working worker: die, be restarted
            self.event('error', reason='worker bug: %s: %s' % (type(err).__name__, err))
            self.fatal(EXIT_PIPELINE_ERROR)

    def _handle_bus(self, message):
        t = message.type
        if t == Gst.MessageType.ERROR:
            err, debug = message.parse_error()
            src = message.src.get_name() if message.src else '?'
            if self.on_element_error(message.src, err, debug):
                return
            detail = (debug or '').strip().splitlines()[-1:] or ['']
            self.event('error', reason='%s: %s' % (src, err.message), detail=detail[0][:300], domain=str(err.domain), code=err.code)
            self.fatal(EXIT_PIPELINE_ERROR)
        elif t == Gst.MessageType.WARNING:
            err, _ = message.parse_warning()
            self.event('warning', reason='%s: %s' % (message.src.get_name() if message.src else '?', err.message))
        elif t == Gst.MessageType.EOS:
            self._finish()
        elif t == Gst.MessageType.LATENCY:
            self.pipeline.recalculate_latency()

    def on_element_error(self, element, err, debug):
        """Subclasses contain errors of one input (drop that input) by returning True."""
        return False

    def fatal(self, status):
        self.pipeline.set_state(Gst.State.NULL)
        sys.stdout.flush()
        os._exit(status)

    # ---- stop ----
    def _on_sigterm(self):
        self.stop(None)
        return True

    def stop(self, cid):
        if cid is not None:
            self.stop_reply_ids.append(cid)
        if self.stopping:
            return
        self.stopping = True
        self.before_stop()
        _, state, _ = self.pipeline.get_state(0)
        if state != Gst.State.PLAYING:
            self._finish()
            return
        self.pipeline.send_event(Gst.Event.new_eos())
        GLib.timeout_add(self.eos_timeout_ms(), self._eos_timeout)

    def before_stop(self):
        pass

    def eos_timeout_ms(self):
        return 5000

    def _eos_timeout(self):
        self.event('warning', reason='EOS did not reach the sinks within %d ms; stopping anyway' % self.eos_timeout_ms())
        self._finish()
        return False

    def _finish(self):
        result = self.on_stopped()
        self.pipeline.set_state(Gst.State.NULL)
        for cid in self.stop_reply_ids:
            self._write({'id': cid, 'ok': True, 'result': result or {}})
        self.stop_reply_ids = []
        sys.stdout.flush()
        os._exit(EXIT_OK)

    def on_stopped(self):
        """Subclasses return the stop command's result (e.g. file size)."""
        return {}

    def run(self):
        self.event('ready', kind=self.kind, gstreamer=Gst.version_string(), pid=os.getpid())
        self.loop.run()


def load_config():
    """The worker's configuration: one JSON object in argv[1] (numbers and enums chosen by Dari)."""
    if len(sys.argv) < 2:
        return {}
    try:
        cfg = json.loads(sys.argv[1])
    except ValueError:
        sys.stderr.write('config must be JSON\n')
        sys.exit(EXIT_BAD_CONFIG)
    if not isinstance(cfg, dict):
        sys.stderr.write('config must be a JSON object\n')
        sys.exit(EXIT_BAD_CONFIG)
    return cfg


__all__ = ['Gst', 'GLib', 'GstVideo', 'set_prop', 'Worker', 'CommandError', 'make', 'caps', 'require_int', 'require_str', 'require_id',
           'require_loopback', 'bind_udpsrc', 'label_text', 'add_and_sync', 'link_chain', 'remove_elements', 'load_config',
           'EXIT_OK', 'EXIT_BAD_CONFIG', 'EXIT_PIPELINE_ERROR', 'EXIT_STALLED']
