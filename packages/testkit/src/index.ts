export * from './chromium.js';
export * from './firefox.js';
export * from './sdk-page.js';
export * from './redis.js';
export * from './balancer.js';
export * from './turn-client.js';
export * from './recovery.js';
