/**
 * The room's control bar: microphone, camera and screen share toggles (aria-pressed="true" =
 * on), and leave. The chat toggle belongs to {@link Chat}.
 */
import { SignalingError, type CaptureOptions, type Room } from '@dari/client';
import { byId, setToggle, toast } from './dom.js';
import { describeMediaError } from './lobby.js';

export interface ControlsDeps {
  /** Devices chosen in the lobby ('' = default), for capturing again in the room. */
  devices(): { cameraId: string; micId: string };
  /** Local publications changed: refresh the own tile. */
  onLocalChange(): void;
  onLeave(): void;
}

function captureOptions(deviceId: string): CaptureOptions {
  const options: CaptureOptions = {};
  if (deviceId) options.deviceId = deviceId;
  return options;
}

function isDomError(err: unknown, name: string): boolean {
  return err instanceof DOMException && err.name === name;
}

export class Controls {
  private readonly mic = byId<HTMLButtonElement>('toggle-mic');
  private readonly camera = byId<HTMLButtonElement>('toggle-camera');
  private readonly screen = byId<HTMLButtonElement>('toggle-screen');
  private room: Room | null = null;

  constructor(private readonly deps: ControlsDeps) {
    this.mic.addEventListener('click', () => void this.run(this.mic, () => this.toggleMic(), 'microphone'));
    this.camera.addEventListener('click', () => void this.run(this.camera, () => this.toggleCamera(), 'camera'));
    this.screen.addEventListener('click', () => void this.run(this.screen, () => this.toggleScreen(), 'screen'));
    byId('leave').addEventListener('click', () => deps.onLeave());
    // Screen capture is missing on most phones.
    this.screen.hidden = typeof navigator.mediaDevices?.getDisplayMedia !== 'function';
  }

  attach(room: Room): void {
    this.room = room;
    this.render();
  }

  detach(): void {
    this.room = null;
  }

  /** Sets aria-pressed, icons and tooltips from the local participant's state. */
  render(): void {
    const lp = this.room?.localParticipant;
    const mic = !!lp?.isMicrophoneEnabled;
    const cam = !!lp?.isCameraEnabled;
    const screen = !!lp?.isScreenShareEnabled;
    setToggle(this.mic, mic, mic ? 'mic' : 'micOff', mic ? 'Mute microphone' : 'Unmute microphone');
    setToggle(this.camera, cam, cam ? 'camera' : 'cameraOff', cam ? 'Turn camera off' : 'Turn camera on');
    setToggle(this.screen, screen, 'screen', screen ? 'Stop sharing your screen' : 'Share your screen');
  }

  private async run(button: HTMLButtonElement, action: () => Promise<void>, what: string): Promise<void> {
    if (button.getAttribute('aria-busy') === 'true' || !this.room) return;
    button.setAttribute('aria-busy', 'true');
    try {
      await action();
    } catch (err) {
      if (err instanceof SignalingError) toast(err.message, 'error');
      else if (what === 'screen' && isDomError(err, 'NotAllowedError')) return; // the user cancelled the picker
      else toast(describeMediaError(err, what === 'screen' ? 'screen capture' : what), 'error');
    } finally {
      button.removeAttribute('aria-busy');
      this.deps.onLocalChange();
      this.render();
    }
  }

  private async toggleMic(): Promise<void> {
    const lp = this.room!.localParticipant;
    if (lp.isMicrophoneEnabled) return lp.setMicrophoneEnabled(false);
    // With a captured track, unmuting is instant; a deviceId would capture again.
    if (lp.getTrack('microphone')?.track) return lp.setMicrophoneEnabled(true);
    const options = captureOptions(this.deps.devices().micId);
    try {
      await lp.setMicrophoneEnabled(true, options);
    } catch (err) {
      if (!options.deviceId || !isDomError(err, 'OverconstrainedError')) throw err;
      await lp.setMicrophoneEnabled(true);
    }
  }

  private async toggleCamera(): Promise<void> {
    const lp = this.room!.localParticipant;
    if (lp.isCameraEnabled) return lp.setCameraEnabled(false);
    const options = captureOptions(this.deps.devices().cameraId);
    try {
      await lp.setCameraEnabled(true, options);
    } catch (err) {
      // The chosen device is gone: fall back to the default camera.
      if (!options.deviceId || !isDomError(err, 'OverconstrainedError')) throw err;
      await lp.setCameraEnabled(true);
    }
  }

  private async toggleScreen(): Promise<void> {
    const lp = this.room!.localParticipant;
    await lp.setScreenShareEnabled(!lp.isScreenShareEnabled);
  }
}
