(() => {
// In-page code of the call-setup benchmark, injected with page.addScriptTag; it defines window.bench.
// Timing: t0 right before the connect call; t1 at the first decoded remote video frame, taken
// from HTMLVideoElement.requestVideoFrameCallback (WICG video-rvfc), i.e. a frame that was
// decoded and presented. Local media is captured before t0 and reused across calls.

/** Captures fake camera + microphone once per page (not timed). */
async function prepareMedia() {
  if (!window.benchStream) {
    window.benchStream = await navigator.mediaDevices.getUserMedia({
      video: { width: 320, height: 240, frameRate: 30 },
      audio: true,
    });
  }
}

/** Resolves with performance.now() of the first presented frame of `stream` in a new <video>. */
function firstFrame(track) {
  return new Promise((resolve) => {
    const v = document.createElement('video');
    v.muted = true;
    v.autoplay = true;
    v.playsInline = true;
    v.srcObject = new MediaStream([track]);
    document.body.append(v);
    v.requestVideoFrameCallback(() => resolve(performance.now()));
  });
}

/** Dari side A: join and wait (untimed). */
async function dariHost({ url, token }) {
  const { Room } = await import('/sdk/dari.mjs');
  const room = new Room();
  window.benchRoom = room;
  await room.localParticipant.publishTrack(window.benchStream.getVideoTracks()[0].clone(), 'camera');
  await room.localParticipant.publishTrack(window.benchStream.getAudioTracks()[0].clone(), 'microphone');
  await room.connect(url, token);
}

/** Dari side B: timed from room.connect() to the first decoded frame from A; returns ms. */
async function dariJoin({ url, token }) {
  const { Room } = await import('/sdk/dari.mjs');
  const room = new Room();
  window.benchRoom = room;
  await room.localParticipant.publishTrack(window.benchStream.getVideoTracks()[0].clone(), 'camera');
  await room.localParticipant.publishTrack(window.benchStream.getAudioTracks()[0].clone(), 'microphone');
  const frame = new Promise((resolve) => room.on('trackSubscribed', (track) => track.kind === 'video' && resolve(firstFrame(track))));
  const t0 = performance.now();
  await room.connect(url, token);
  return (await frame) - t0;
}

function dariLeave() {
  window.benchRoom?.disconnect();
  document.querySelectorAll('video').forEach((v) => v.remove());
}

/** PeerJS side A: register and answer calls with the local stream (untimed). */
async function peerjsHost({ host, port, id }) {
  const peer = new window.Peer(id, { host, port, path: '/', secure: false, config: { iceServers: [] }, debug: 0 });
  window.benchPeer = peer;
  peer.on('call', (call) => call.answer(window.benchStream));
  await new Promise((resolve, reject) => {
    peer.on('open', resolve);
    peer.on('error', reject);
  });
}

/** PeerJS side B: timed from new Peer() to the first decoded frame from A; returns ms. */
async function peerjsJoin({ host, port, id, target }) {
  const t0 = performance.now();
  const peer = new window.Peer(id, { host, port, path: '/', secure: false, config: { iceServers: [] }, debug: 0 });
  window.benchPeer = peer;
  await new Promise((resolve, reject) => {
    peer.on('open', resolve);
    peer.on('error', reject);
  });
  const call = peer.call(target, window.benchStream);
  const t1 = await new Promise((resolve) => call.on('stream', (stream) => resolve(firstFrame(stream.getVideoTracks()[0]))));
  return t1 - t0;
}

function peerjsLeave() {
  window.benchPeer?.destroy();
  document.querySelectorAll('video').forEach((v) => v.remove());
}

window.bench = { prepareMedia, dariHost, dariJoin, dariLeave, peerjsHost, peerjsJoin, peerjsLeave };
})();
