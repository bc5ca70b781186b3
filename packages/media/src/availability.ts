/**
 * Is GStreamer usable for the MCU and recording? Dari asks once at start (`checkGStreamer`) and
 * says in one line what to install when it is not: without it, MCU rooms and egress are refused
 * with `GSTREAMER_UNAVAILABLE` and everything else works.
 */
import { execFile } from 'node:child_process';
import { DEFAULT_PYTHON, workerScript } from './worker-process.js';

/** GStreamer elements each feature builds, with the Debian package that ships each. */
export const REQUIRED_ELEMENTS: Readonly<Record<string, string>> = {
  // the composite (MCU)
  compositor: 'gstreamer1.0-plugins-base',
  videotestsrc: 'gstreamer1.0-plugins-base',
  audiotestsrc: 'gstreamer1.0-plugins-base',
  audiomixer: 'gstreamer1.0-plugins-base',
  videoscale: 'gstreamer1.0-plugins-base',
  videoconvert: 'gstreamer1.0-plugins-base',
  audioconvert: 'gstreamer1.0-plugins-base',
  audioresample: 'gstreamer1.0-plugins-base',
  opusenc: 'gstreamer1.0-plugins-base',
  opusdec: 'gstreamer1.0-plugins-base',
  textoverlay: 'gstreamer1.0-x',
  vp8enc: 'gstreamer1.0-plugins-good',
  vp8dec: 'gstreamer1.0-plugins-good',
  rtpvp8pay: 'gstreamer1.0-plugins-good',
  rtpvp8depay: 'gstreamer1.0-plugins-good',
  rtpopuspay: 'gstreamer1.0-plugins-good',
  rtpopusdepay: 'gstreamer1.0-plugins-good',
  rtpjitterbuffer: 'gstreamer1.0-plugins-good',
  udpsrc: 'gstreamer1.0-plugins-good',
  multiudpsink: 'gstreamer1.0-plugins-good',
  // the recorder: webm (no re-encoding) and mp4 (H.264 + AAC)
  webmmux: 'gstreamer1.0-plugins-good',
  opusparse: 'gstreamer1.0-plugins-bad',
  mp4mux: 'gstreamer1.0-plugins-good',
  h264parse: 'gstreamer1.0-plugins-bad',
  aacparse: 'gstreamer1.0-plugins-good',
  x264enc: 'gstreamer1.0-plugins-ugly',
  avenc_aac: 'gstreamer1.0-libav',
};

/** What `checkGStreamer` found. */
export type GStreamerStatus =
  | { ok: true; version: string }
  | {
      ok: false;
      /** What is wrong, in one line (for logs and typed errors). */
      reason: string;
      /** Debian packages to install. */
      packages: string[];
      /** The one line to show: `GStreamer unavailable (…): apt-get install …`. */
      hint: string;
    };

/** Debian packages of the Python bindings (gi + the GStreamer GIR typelibs). */
const BINDINGS_PACKAGES = ['python3-gst-1.0', 'gstreamer1.0-plugins-base', 'gstreamer1.0-plugins-good'];

/**
 * Runs worker/probe.py with `python`: can it load GStreamer's bindings, and are the elements of
 * {@link REQUIRED_ELEMENTS} installed?
 * @param python default `/usr/bin/python3`
 * @param timeoutMs default 15000 (the first GStreamer start scans the plugin registry)
 */
export function checkGStreamer(python = DEFAULT_PYTHON, timeoutMs = 15_000): Promise<GStreamerStatus> {
  return new Promise((resolve) => {
    execFile(python, [workerScript('probe.py'), ...Object.keys(REQUIRED_ELEMENTS)], { timeout: timeoutMs, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } }, (err, stdout) => {
      let report: { ok?: boolean; bindings?: boolean; version?: string; missing?: string[]; error?: string } = {};
      try {
        report = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as typeof report;
      } catch {
        report = {};
      }
      if (report.ok === true && report.version) return resolve({ ok: true, version: report.version });
      if (report.bindings === true) {
        const missing = report.missing ?? [];
        const packages = [...new Set(missing.map((e) => REQUIRED_ELEMENTS[e] ?? 'gstreamer1.0-plugins-bad'))];
        return resolve(unavailable(`GStreamer elements missing: ${missing.join(', ')}`, packages));
      }
      const why = err ? `cannot run ${python} (${err.message.split('\n')[0]})` : `Python cannot load GStreamer (${report.error ?? 'no answer'})`;
      resolve(unavailable(why, [...BINDINGS_PACKAGES, ...new Set(Object.values(REQUIRED_ELEMENTS))].filter((p, i, a) => a.indexOf(p) === i)));
    });
  });
}

function unavailable(reason: string, packages: string[]): GStreamerStatus {
  return { ok: false, reason, packages, hint: `GStreamer unavailable for MCU rooms and recording (${reason}): apt-get install ${packages.join(' ')}` };
}
