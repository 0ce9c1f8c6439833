import { defineConfig } from "vite";
import { fileURLToPath } from "node:url";

// The server the dev server proxies /api and /ws to (`agora serve` on its default address).
const target = process.env.AGORA_URL ?? "http://127.0.0.1:8080";
const sdk = fileURLToPath(new URL("../clients/js/src", import.meta.url));
const msgpack = fileURLToPath(new URL("./node_modules/@msgpack/msgpack/dist.esm/index.mjs", import.meta.url));

export default defineConfig({
  // The SDK's TypeScript sources are compiled with the app: no separate SDK build.
  // Its one dependency resolves from web/node_modules (clients/js/node_modules need not exist).
  resolve: {
    alias: [
      { find: /^@agora\/sdk\/(.*)$/, replacement: `${sdk}/$1` },
      { find: /^@msgpack\/msgpack$/, replacement: msgpack },
    ],
  },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    target: "es2022",
    sourcemap: false,
    modulePreload: { polyfill: false },
  },
  server: {
    host: "127.0.0.1",
    port: 5173,
    fs: { allow: [".."] },
    proxy: {
      "/api": { target, changeOrigin: false },
      "/ws": { target, ws: true, changeOrigin: false },
    },
  },
});
