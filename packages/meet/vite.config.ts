// Builds the meeting app (index.html + src/) into dist/, which `dari serve` serves at `/`.
// `npx vite --config packages/meet/vite.config.ts` runs it in dev mode against a local
// `dari serve` on :7880 (token endpoint and signaling are proxied).
import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

const DARI = process.env['DARI_URL'] ?? 'http://localhost:7880';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    target: 'es2022',
  },
  server: {
    proxy: {
      '/api': DARI,
      '/rtc': { target: DARI, ws: true },
    },
  },
});
