export * from './netns.js';
export * from './topology.js';
export * from './dari.js';
export * from './host-link.js';
export * from './faults.js';
