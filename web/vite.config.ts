// The UI is embedded into the gateway binary (see cmake/webui.cmake): relative
// asset URLs, one JS and one CSS file, nothing fetched from the internet.
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2020',
    assetsInlineLimit: 0,
    sourcemap: false,
    cssCodeSplit: false,
    modulePreload: { polyfill: false },
  },
});
