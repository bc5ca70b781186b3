export * from './chromium.js';
export * from './redis.js';
