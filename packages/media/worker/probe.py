#!/usr/bin/python3
"""Dari's GStreamer availability probe: prints one JSON line {ok, version, missing: [element…]}
or {ok: false, bindings: false, error} when Python cannot load GStreamer's bindings."""
import json
import sys

try:
    import gi
    gi.require_version('Gst', '1.0')
    gi.require_version('GstVideo', '1.0')
    from gi.repository import Gst, GstVideo  # noqa: F401
    Gst.init(None)
except Exception as err:  # ImportError, ValueError (namespace not available), GLib errors
    print(json.dumps({'ok': False, 'bindings': False, 'error': '%s: %s' % (type(err).__name__, err)}))
    sys.exit(0)

wanted = sys.argv[1:]
missing = [name for name in wanted if Gst.ElementFactory.find(name) is None]
print(json.dumps({'ok': not missing, 'bindings': True, 'version': Gst.version_string(), 'missing': missing}))
