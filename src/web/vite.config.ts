/** Builds the dashboard: `npm run build:web` → src/web/dist (served by src/web/plugin.ts). */
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('./app'),
  base: '/',
  publicDir: false,
  logLevel: 'warn',
  clearScreen: false,
  build: {
    outDir: here('./dist'),
    emptyOutDir: true,
    assetsDir: 'assets',
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
    // Every script comes from /assets; the page's CSP forbids inline script.
    modulePreload: { polyfill: false },
  },
});
