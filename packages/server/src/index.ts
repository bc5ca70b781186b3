export { startServer, SIGNALING_PATH, type RunningServer } from './serve.js';
export { loadConfig, validateConfig, resolveConfig, ConfigError, type Config, type Resolved } from './config.js';
export { mintToken, verifyToken, DEV_API_KEY, DEV_API_SECRET } from './tokens.js';
export { SignalingCore, CloseCode, type Action, type JoinIntent } from './signaling/core.js';
export { createLogger } from './logger.js';
