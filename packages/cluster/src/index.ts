export * from './types.js';
export * from './placement.js';
export * from './store.js';
export * from './link-protocol.js';
export * from './links.js';
export * from './node.js';
