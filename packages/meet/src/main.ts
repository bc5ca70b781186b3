/**
 * Dari meeting app: wiring between the lobby, the room and the UI modules.
 *
 * URL parameters: `?room=R&name=N` prefill the lobby, `&join=1` joins without a click.
 * Once joined, the URL becomes `?room=R` (shareable).
 */
import './style.css';
import { Room, SignalingError, type RemoteParticipant } from '@dari/client';
import { byId, fillIconSlots, toast } from './dom.js';
import { Lobby } from './lobby.js';
import { Grid } from './grid.js';
import { Chat } from './chat.js';
import { Files } from './files.js';
import { ConnIndicator } from './conn-indicator.js';
import { Inspector } from './inspector.js';
import { Controls } from './controls.js';
import { TokenRequiredError, describeDisconnect, describeJoinError, fetchDevToken, makeIdentity } from './token.js';

declare global {
  interface Window {
    /**
     * The current (or last) Room. Exposed only for debugging from the console and for
     * end-to-end tests; the app itself never reads it.
     */
    dariRoom?: Room;
  }
}

fillIconSlots();

const roomView = byId('room-view');
const roomTitle = byId('room-title');
/** Shown while the server records the room (the SDK's recordingStatusChanged). */
const recIndicator = byId('rec-indicator');
const copyInvite = byId<HTMLButtonElement>('copy-invite');
const audioUnblock = byId<HTMLButtonElement>('audio-unblock');

const lobby = new Lobby(() => void join());
const grid = new Grid(
  byId('grid'),
  () => (audioUnblock.hidden = false),
  (identity, button) => inspector.toggle(identity, button),
);
const inspector = new Inspector((identity) => grid.setInspected(identity));
const chat = new Chat();
const files = new Files();
const conn = new ConnIndicator(byId('conn-status'), grid);
const controls = new Controls({
  devices: () => lobby.deviceIds(),
  onLocalChange: () => current && grid.syncLocal(current.localParticipant),
  onLeave: () => leave(),
});

/** The room being joined or joined; null in the lobby. */
let current: Room | null = null;
let joining = false;

function inviteUrl(room: string): URL {
  const url = new URL(location.pathname, location.origin);
  url.searchParams.set('room', room);
  return url;
}

async function join(): Promise<void> {
  if (joining || current) return;
  joining = true;
  lobby.clearError();
  lobby.setBusy(true);
  try {
    const { name, room: roomName, token: pasted } = lobby.values();
    let token = pasted;
    if (!token) {
      try {
        token = await fetchDevToken(roomName, makeIdentity(name), name);
      } catch (err) {
        if (err instanceof TokenRequiredError) {
          lobby.showTokenField();
          lobby.showError('This server needs an access token: paste one below, then join.');
        } else {
          lobby.showError(err instanceof Error ? err.message : String(err));
        }
        return;
      }
    }
    await connect(name, token);
  } finally {
    joining = false;
    if (!current) lobby.setBusy(false);
  }
}

async function connect(name: string, token: string): Promise<void> {
  const media = await lobby.takeMedia();
  const room = new Room();
  current = room;
  window.dariRoom = room;
  wire(room);
  grid.setLocal(name);
  try {
    // The lobby's preview tracks are published as they are: no second consent prompt.
    if (media.video) await room.localParticipant.publishTrack(media.video, 'camera');
    if (media.audio) await room.localParticipant.publishTrack(media.audio, 'microphone');
    grid.syncLocal(room.localParticipant);
    controls.render();
    await room.connect(location.origin, token);
  } catch (err) {
    for (const track of [media.video, media.audio]) track?.stop();
    leaveUi(room);
    room.disconnect();
    void lobby.show(describeJoinError(err));
    return;
  }
  lobby.hide();
  roomView.hidden = false;
  roomTitle.textContent = room.name;
  copyInvite.dataset['invite'] = inviteUrl(room.name).href;
  history.replaceState(null, '', `${location.pathname}?room=${encodeURIComponent(room.name)}`);
  grid.setLocal(room.localParticipant.name || name);
  grid.syncLocal(room.localParticipant);
  controls.render();
  conn.start(room);
}

function wire(room: Room): void {
  const live = () => current === room;
  // Events for a participant that already left (trackUnsubscribed during removal) are skipped.
  const sync = (p: RemoteParticipant) => {
    if (live() && room.remoteParticipants.get(p.identity) === p) grid.syncRemote(p);
  };
  const people = () => {
    chat.updateTargets();
    files.updateTargets();
  };
  room.on('participantConnected', (p) => {
    if (!live()) return;
    grid.syncRemote(p);
    people();
    inspector.participantJoined(p.identity);
    if (!joining) toast(`${p.name || p.identity} joined`);
  });
  room.on('participantDisconnected', (p) => {
    if (!live()) return;
    grid.removeRemote(p.identity);
    inspector.participantLeft(p.identity);
    people();
    // Not when the whole room is torn down because we were disconnected.
    if (room.state !== 'disconnected') toast(`${p.name || p.identity} left`);
  });
  room.on('participantUpdated', sync);
  room.on('trackSubscribed', (_track, _pub, p) => sync(p));
  room.on('trackUnsubscribed', (_track, _pub, p) => sync(p));
  room.on('trackMuted', (_pub, p) => sync(p));
  room.on('trackUnmuted', (_pub, p) => sync(p));
  const local = () => {
    if (!live()) return;
    grid.syncLocal(room.localParticipant);
    controls.render();
  };
  room.on('localTrackPublished', local);
  room.on('localTrackUnpublished', local);
  room.on('connectionStateChanged', (state) => live() && conn.setState(state));
  room.on('peerConnectionStateChanged', (identity, state) => {
    if (!live()) return;
    grid.setPeerState(identity, state);
    if (state === 'connected') conn.pollSoon();
  });
  room.on('recordingStatusChanged', (recording) => {
    if (live()) recIndicator.hidden = !recording;
  });
  // The server's composite: an MCU room's one video and N−1 mix (the others' tiles hidden), or a fallback's video.
  const composite = () => live() && grid.setComposite(room.composite, room.mediaPath.path === 'mcu');
  room.on('compositeChanged', composite);
  room.on('mediaPathChanged', composite);
  room.on('activeSpeakersChanged', (speakers) => {
    if (live()) grid.setSpeaking(speakers.map((p) => p.identity), room.localParticipant.identity);
  });
  // The server's errors are the user's business; the SDK's own (a failed candidate, a peer's
  // malformed control message, a bug in a listener) go to the console for whoever debugs.
  room.on('error', (err) => {
    if (!live()) return;
    if (err instanceof SignalingError) toast(err.message, 'error');
    else console.warn(`[meet] ${err.code}: ${err.message}`, err.cause ?? '');
  });
  room.on('disconnected', (reason) => {
    if (!live()) return;
    leaveUi(room);
    void lobby.show(describeDisconnect(reason) || undefined);
  });
  chat.attach(room);
  files.attach(room);
  inspector.attach(room);
  controls.attach(room);
}

/** The leave button: back to the lobby without a message. */
function leave(): void {
  const room = current;
  if (!room || joining) return;
  leaveUi(room);
  room.disconnect();
  void lobby.show();
}

/** Back to the lobby's state: stops capture and clears every room UI. */
function leaveUi(room: Room): void {
  if (current === room) current = null;
  room.localParticipant.stopAll(); // the SDK keeps capturing after a server-side disconnect
  conn.stop();
  conn.setState('disconnected');
  inspector.detach();
  grid.clear();
  chat.detach();
  files.detach();
  controls.detach();
  audioUnblock.hidden = true;
  recIndicator.hidden = true;
  roomView.hidden = true;
}

copyInvite.addEventListener('click', () => {
  const url = copyInvite.dataset['invite'];
  if (!url) return;
  const copied = navigator.clipboard?.writeText(url) ?? Promise.reject(new Error('no clipboard'));
  copied.then(
    () => toast('Invite link copied'),
    // No clipboard (plain http on a LAN address, or refused): let the user copy it.
    () => window.prompt('Copy this invite link:', url),
  );
});

audioUnblock.addEventListener('click', () => {
  audioUnblock.hidden = true;
  grid.resumeAudio();
});

// Leave cleanly when the tab closes, so the others see it at once.
addEventListener('pagehide', () => current?.disconnect());

const params = new URLSearchParams(location.search);
lobby.prefill(params.get('name'), params.get('room'));
const previewReady = lobby.show();
if (params.get('join') === '1') void previewReady.then(() => join());
