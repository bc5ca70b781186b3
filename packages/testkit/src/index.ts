export * from './chromium.js';
export * from './redis.js';
export * from './balancer.js';
export * from './turn-client.js';
