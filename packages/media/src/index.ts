/**
 * @dari/media: media workers on GStreamer, one child process each, RTP over loopback UDP,
 * controlled over a JSON-lines command channel (never by splicing strings into a pipeline
 * description): the MCU composite ({@link CompositeMixer}) and the recorder ({@link Recorder}).
 */
export * from './errors.js';
export * from './logger.js';
export * from './events.js';
export * from './json-lines.js';
export * from './restart-policy.js';
export * from './cpu.js';
export * from './worker-process.js';
export * from './supervisor.js';
export * from './availability.js';
export * from './composite.js';
export * from './recorder.js';
