/**
 * The server's composite on the SFU subscriber leg (issue #10; server/src/mcu): in an `mcu` room
 * every participant receives one composite video of everyone (stream id `dari-composite`) and one
 * audio mix of everyone but itself (`dari-mix-<id>`); in an SFU room's composite fallback, the
 * composite video alone. No participant owns these tracks, so they are kept here, apart from the
 * participants' publications, and offered to the app as {@link CompositeTracks}.
 */

/** Stream id (a=msid) of the composite video. */
export const COMPOSITE_STREAM_ID = 'dari-composite';
/** Stream id prefix (a=msid) of an N−1 audio mix. */
export const MIX_STREAM_PREFIX = 'dari-mix-';

/** The composite tracks received now (either may be absent). */
export interface CompositeTracks {
  /** The grid of everyone's video (with names, the active speaker framed). */
  video?: MediaStreamTrack;
  /** The audio mix of everyone but us (an `mcu` room). */
  audio?: MediaStreamTrack;
}

export class CompositeReceiver {
  private current: CompositeTracks = {};

  /** @param changed called with the tracks after each change */
  constructor(private readonly changed: (tracks: CompositeTracks) => void) {}

  /** The composite tracks now. */
  get tracks(): CompositeTracks {
    return { ...this.current };
  }

  /**
   * Keeps a track of the subscriber leg (`RTCPeerConnection.ontrack`) if it is the composite's,
   * until it ends or leaves its stream (the SFU unsubscribed it).
   * @returns whether it was the composite's (otherwise it belongs to a participant)
   */
  take(ev: RTCTrackEvent): boolean {
    const stream = ev.streams[0];
    const kind = stream?.id === COMPOSITE_STREAM_ID ? 'video' : stream?.id.startsWith(MIX_STREAM_PREFIX) ? 'audio' : undefined;
    if (!stream || !kind || ev.track.kind !== kind) return false;
    const track = ev.track;
    this.current[kind] = track;
    const drop = () => {
      if (this.current[kind] !== track) return;
      delete this.current[kind];
      this.changed(this.tracks);
    };
    track.addEventListener('ended', drop, { once: true });
    stream.addEventListener('removetrack', (e) => (e.track === track ? drop() : undefined));
    this.changed(this.tracks);
    return true;
  }

  /** Forgets the tracks (the SFU leg closed). */
  clear(): void {
    if (!this.current.video && !this.current.audio) return;
    this.current = {};
    this.changed(this.tracks);
  }
}
