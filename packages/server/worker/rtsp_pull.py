"""Pulls one RTSP camera (rtspsrc) and sends its media to the SFU's local RTP sockets, without
re-encoding when browsers can decode it: H.264 constrained baseline, baseline or main is
depayloaded, given SPS/PPS before every IDR (h264parse config-interval=-1) and payloaded again
(RFC 6184 packetization-mode 1, 1200-byte packets); Opus and G.711 (PCMU, PCMA: RFC 3551 4.5.14)
are repayloaded as they are. H.264 of other profiles (High) is transcoded to constrained baseline
(x264), and AAC (MPEG4-GENERIC, MP4A-LATM) to Opus. Other codecs are reported (`unsupported`) and
left out. Elements are made one by one and the URL is a property of rtspsrc: no part of it is ever
parsed as a pipeline description.

Audio goes out in the codec of the ingress's audio publication: `audio_codec` ("OPUS", "PCMU" or
"PCMA") with `audio_port`, when it exists (a restart); the camera's audio is passed through when it
is that codec, else transcoded to it. Without them (the first pull), the worker picks the codec
(the camera's own when it is Opus or G.711, else Opus), says {"event": "audio-codec", "codec"} and
holds the audio (a closed valve) until the server answers on stdin with {"audio_port": N}.

Input: JSON in the environment variable DARI_RTSP_CONFIG, or else the first line on stdin (never
argv: the URL may hold credentials) {"url", "video_port", "audio_port"?, "audio_codec"?, "stall_ms", "latency_ms"}. The worker dies
with its parent (PR_SET_PDEATHSIG), so a crashed server leaves no pull running.
Output: JSON lines on stdout: {"event": "media", "kind": "video"|"audio", "codec": ..., "mode":
"passthrough"|"transcoded"} on the first buffer of each kind, {"event": "audio-codec", "codec"},
{"event": "unsupported", "caps": ...}, {"event": "error", "message"}, {"event": "eos"},
{"event": "stalled"}. Exits 0 on EOS, 2 on an error, 3 on a stall."""
import base64
import binascii
import ctypes
import json
import os
import signal
import sys
import threading
import gi

# PR_SET_PDEATHSIG (prctl(2), option 1): SIGTERM when the parent (dari serve) dies.
try:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
except OSError:
    pass

gi.require_version("Gst", "1.0")
from gi.repository import Gst, GLib  # noqa: E402

Gst.init(None)
Gst.ElementFactory.make("rtspsrc", None)  # loads the plugins while the worker waits as a spare
# The config: DARI_RTSP_CONFIG, else the first line on stdin (a warm spare started ahead of its
# camera gets it there; loading Python and GStreamer, 0.3-1 s, is done by then).
cfg = json.loads((os.environ.get("DARI_RTSP_CONFIG") or sys.stdin.readline()).strip() or "{}")
if "url" not in cfg:
    sys.exit(0)  # stdin closed before a config came: a spare no longer needed
loop = GLib.MainLoop()
pipeline = Gst.Pipeline.new("ingress")
exit_code = 0
last_buffer = [GLib.get_monotonic_time()]
last_served = [0]
sinks = []  # the udpsinks; their bytes-served tells that media flows
seen = set()
ENUM_PROPS = {"protocols", "aggregate-mode", "tune", "speed-preset"}


def say(**msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def stop(code):
    global exit_code
    exit_code = code
    loop.quit()


def make(factory, **props):
    e = Gst.ElementFactory.make(factory, None)
    if e is None:
        say(event="error", message=f"GStreamer element {factory} is missing")
        stop(2)
        raise SystemExit(2)
    for k, v in props.items():
        name = k.replace("_", "-")
        if name in ENUM_PROPS:
            Gst.util_set_object_arg(e, name, v)  # an enum or flags nick; never the URL
        else:
            e.set_property(name, v)
    pipeline.add(e)
    return e


src = make("rtspsrc", location=cfg["url"], latency=int(cfg.get("latency_ms", 100)), protocols="udp+tcp")


def h264_profile_idc(caps_struct):
    """profile_idc from the SDP's profile-level-id, else from the SPS in sprop-parameter-sets
    (RFC 6184 8.1; H.264 7.3.2.1.1: the byte after the NAL header); None when unknown."""
    pli = caps_struct.get_string("profile-level-id") or ""
    if len(pli) >= 2:
        try:
            return int(pli[:2], 16)
        except ValueError:
            return None
    sets = (caps_struct.get_string("sprop-parameter-sets") or "").split(",")
    try:
        sps = base64.b64decode(sets[0] + "=" * (-len(sets[0]) % 4))
    except (ValueError, binascii.Error):
        return None
    return sps[1] if len(sps) > 1 and (sps[0] & 0x1F) == 7 else None


def passthrough_h264(caps_struct):
    """Browsers decode constrained baseline (66), baseline and main (77) (RFC 7742 6.2): those pass
    through; so does a stream whose profile is not announced."""
    idc = h264_profile_idc(caps_struct)
    return idc is None or idc in (66, 77)


# Audio codecs an ingress publishes (the SFU forwards them to browsers): their RTP payloader and,
# for transcoding into them, encoder and raw caps.
AUDIO_OUT = {
    "OPUS": ("rtpopuspay", 111, "opusenc", "audio/x-raw,rate=48000"),
    "PCMU": ("rtppcmupay", 0, "mulawenc", "audio/x-raw,rate=8000,channels=1"),
    "PCMA": ("rtppcmapay", 8, "alawenc", "audio/x-raw,rate=8000,channels=1"),
}
AUDIO_DECODE = {
    "OPUS": ("rtpopusdepay", "opusdec"),
    "PCMU": ("rtppcmudepay", "mulawdec"),
    "PCMA": ("rtppcmadepay", "alawdec"),
    "MPEG4-GENERIC": ("rtpmp4gdepay", "aacparse", "avdec_aac"),
    "MP4A-LATM": ("rtpmp4adepay", "aacparse", "avdec_aac"),
}
audio_valve = []  # the audio branch's valve and sink while the server has not said where audio goes
audio_sink = []


def audio_chain(encoding):
    """The audio branch for a camera sending `encoding`, or None (not decodable here)."""
    if encoding not in AUDIO_DECODE:
        return None, None
    target = cfg.get("audio_codec") or (encoding if encoding in AUDIO_OUT else "OPUS")
    pay, pt, enc, raw = AUDIO_OUT[target]
    if encoding == target:
        return "passthrough", [make(AUDIO_DECODE[encoding][0]), make(pay, pt=pt)]
    decode = [make(f) for f in AUDIO_DECODE[encoding]]
    return "transcoded", decode + [make("audioconvert"), make("audioresample"),
                                   make("capsfilter", caps=Gst.Caps.from_string(raw)), make(enc), make(pay, pt=pt)]


def branch(kind, encoding, caps_struct):
    if kind == "audio":
        mode, chain = audio_chain(encoding)
        if chain is None:
            return None
        sink = make("udpsink", host="127.0.0.1", port=int(cfg.get("audio_port") or 9), sync=False)
        if cfg.get("audio_port") is None:
            # Held until the server answers with the port (on_server_line); nothing reaches port 9.
            valve = make("valve", drop=True)
            chain.append(valve)
            audio_sink.append(sink)
            audio_valve.append(valve)
            say(event="audio-codec", codec=cfg.get("audio_codec") or (encoding if encoding in AUDIO_OUT else "OPUS"))
    elif encoding == "H264" and passthrough_h264(caps_struct):
        mode = "passthrough"
        chain = [make("rtph264depay"), make("h264parse", config_interval=-1), make("rtph264pay", config_interval=-1, pt=96, mtu=1200, aggregate_mode="zero-latency")]
    elif encoding == "H264":
        # High and other profiles: decoded and encoded again as constrained baseline.
        mode = "transcoded"
        chain = [make("rtph264depay"), make("h264parse"), make("avdec_h264"), make("videoconvert"),
                 make("x264enc", tune="zerolatency", speed_preset="ultrafast", key_int_max=60, bitrate=1500),
                 make("capsfilter", caps=Gst.Caps.from_string("video/x-h264,profile=constrained-baseline")),
                 make("rtph264pay", config_interval=-1, pt=96, mtu=1200, aggregate_mode="zero-latency")]
    else:
        return None
    if kind == "video":
        sink = make("udpsink", host="127.0.0.1", port=int(cfg["video_port"]), sync=False)
    chain.append(sink)
    for a, b in zip(chain, chain[1:]):
        a.link(b)
    for e in chain:
        e.sync_state_with_parent()

    def probe(_pad, _info):
        # The first buffer only: a Python call per packet costs more than the rest of the
        # passthrough; later buffers are seen in the sinks' bytes-served (check_stall).
        last_buffer[0] = GLib.get_monotonic_time()
        seen.add(kind)
        say(event="media", kind=kind, codec=encoding, mode=mode)
        return Gst.PadProbeReturn.REMOVE

    sinks.append(sink)

    sink.get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    return chain[0]


def on_pad(_src, pad):
    caps = pad.get_current_caps() or pad.query_caps(None)
    s = caps.get_structure(0)
    kind = s.get_string("media")
    encoding = (s.get_string("encoding-name") or "").upper()
    if kind not in ("video", "audio") or kind in [k for k, _ in linked]:
        return
    head = branch(kind, encoding, s)
    if head is None:
        say(event="unsupported", kind=kind, caps=caps.to_string()[:200])
        return
    linked.append((kind, encoding))
    pad.link(head.get_static_pad("sink"))


linked = []
src.connect("pad-added", on_pad)


def on_server_line(line):
    """{"audio_port": N} from the server: the held audio goes there from now on."""
    try:
        port = int(json.loads(line)["audio_port"])
    except (ValueError, KeyError, TypeError):
        return False
    if 0 < port < 65536 and audio_sink and audio_valve:
        audio_sink[0].set_property("port", port)
        audio_valve[0].set_property("drop", False)
    cfg["audio_port"] = port
    return False


def read_server():
    for line in sys.stdin:
        GLib.idle_add(on_server_line, line)


threading.Thread(target=read_server, daemon=True).start()


def on_message(_bus, msg):
    if msg.type == Gst.MessageType.ERROR:
        err, _dbg = msg.parse_error()
        say(event="error", message=err.message)
        stop(2)
    elif msg.type == Gst.MessageType.EOS:
        say(event="eos")
        stop(0)


def check_stall():
    served = sum(sink.get_property("bytes-served") for sink in sinks)
    if served != last_served[0]:
        last_served[0] = served
        last_buffer[0] = GLib.get_monotonic_time()
    if seen and (GLib.get_monotonic_time() - last_buffer[0]) / 1000 > cfg.get("stall_ms", 3000):
        say(event="stalled")
        stop(3)
        return False
    return True


bus = pipeline.get_bus()
bus.add_signal_watch()
bus.connect("message", on_message)
GLib.timeout_add(250, check_stall)
pipeline.set_state(Gst.State.PLAYING)
try:
    loop.run()
finally:
    pipeline.set_state(Gst.State.NULL)
sys.exit(exit_code)
