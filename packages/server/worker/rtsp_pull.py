"""Pulls one RTSP camera (rtspsrc) and sends its media to the SFU's local RTP sockets, without
re-encoding when browsers can decode it: H.264 constrained baseline, baseline or main is
depayloaded, given SPS/PPS before every IDR (h264parse config-interval=-1) and payloaded again
(RFC 6184 packetization-mode 1, 1200-byte packets); Opus is repayloaded as it is. H.264 of other
profiles (High) is transcoded to constrained baseline (x264), and AAC (MPEG4-GENERIC, MP4A-LATM)
and G.711 to Opus. Other codecs are reported (`unsupported`) and left out. Elements are made one by one and the URL is a property of rtspsrc: no
part of it is ever parsed as a pipeline description.

Input: JSON in the environment variable DARI_RTSP_CONFIG (not argv: the URL may hold credentials)
{"url", "video_port", "audio_port", "stall_ms", "latency_ms"}. The worker dies with its parent
(PR_SET_PDEATHSIG), so a crashed server leaves no pull running.
Output: JSON lines on stdout: {"event": "media", "kind": "video"|"audio", "codec": ..., "mode":
"passthrough"|"transcoded"} on the first buffer of each kind, {"event": "unsupported", "caps": ...}, {"event": "error", "message"},
{"event": "eos"}, {"event": "stalled"}. Exits 0 on EOS, 2 on an error, 3 on a stall."""
import base64
import binascii
import ctypes
import json
import os
import signal
import sys
import gi

# PR_SET_PDEATHSIG (prctl(2), option 1): SIGTERM when the parent (dari serve) dies.
try:
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
except OSError:
    pass

gi.require_version("Gst", "1.0")
from gi.repository import Gst, GLib  # noqa: E402

cfg = json.loads(os.environ.get("DARI_RTSP_CONFIG") or sys.argv[1])
Gst.init(None)
loop = GLib.MainLoop()
pipeline = Gst.Pipeline.new("ingress")
exit_code = 0
last_buffer = [GLib.get_monotonic_time()]
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


def branch(kind, encoding, caps_struct):
    port = cfg["video_port"] if kind == "video" else cfg["audio_port"]
    to_opus = [make("audioconvert"), make("audioresample"), make("opusenc"), make("rtpopuspay", pt=111)]
    if encoding == "H264" and passthrough_h264(caps_struct):
        mode = "passthrough"
        chain = [make("rtph264depay"), make("h264parse", config_interval=-1), make("rtph264pay", config_interval=-1, pt=96, mtu=1200, aggregate_mode="zero-latency")]
    elif encoding == "H264":
        # High and other profiles: decoded and encoded again as constrained baseline.
        mode = "transcoded"
        chain = [make("rtph264depay"), make("h264parse"), make("avdec_h264"), make("videoconvert"),
                 make("x264enc", tune="zerolatency", speed_preset="ultrafast", key_int_max=60, bitrate=1500),
                 make("capsfilter", caps=Gst.Caps.from_string("video/x-h264,profile=constrained-baseline")),
                 make("rtph264pay", config_interval=-1, pt=96, mtu=1200, aggregate_mode="zero-latency")]
    elif encoding == "OPUS":
        mode = "passthrough"
        chain = [make("rtpopusdepay"), make("rtpopuspay", pt=111)]
    elif encoding == "MPEG4-GENERIC":
        mode = "transcoded"
        chain = [make("rtpmp4gdepay"), make("aacparse"), make("avdec_aac")] + to_opus
    elif encoding == "MP4A-LATM":
        mode = "transcoded"
        chain = [make("rtpmp4adepay"), make("aacparse"), make("avdec_aac")] + to_opus
    elif encoding in ("PCMU", "PCMA"):
        mode = "transcoded"
        chain = [make("rtppcmudepay" if encoding == "PCMU" else "rtppcmadepay"), make("mulawdec" if encoding == "PCMU" else "alawdec")] + to_opus
    else:
        return None
    for e in to_opus:
        if e not in chain:
            pipeline.remove(e)
    sink = make("udpsink", host="127.0.0.1", port=int(port), sync=False)
    chain.append(sink)
    for a, b in zip(chain, chain[1:]):
        a.link(b)
    for e in chain:
        e.sync_state_with_parent()

    def probe(_pad, _info):
        last_buffer[0] = GLib.get_monotonic_time()
        if kind not in seen:
            seen.add(kind)
            say(event="media", kind=kind, codec=encoding, mode=mode)
        return Gst.PadProbeReturn.OK

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


def on_message(_bus, msg):
    if msg.type == Gst.MessageType.ERROR:
        err, _dbg = msg.parse_error()
        say(event="error", message=err.message)
        stop(2)
    elif msg.type == Gst.MessageType.EOS:
        say(event="eos")
        stop(0)


def check_stall():
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
