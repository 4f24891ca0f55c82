#!/usr/bin/env node
// Bundles the official losant-rest client for a browser page, as a front end's
// own build would:   node tests/browser/build.js <out dir>
//
// losant-rest targets "browsers and node.js" through webpack 4/browserify,
// which stand in for node's built-ins. esbuild does not, so the same
// browserify polyfills are mapped in here. That matters for the live streams:
// the client opens them with the `eventsource` package, which runs over the
// `http` polyfill (stream-http: fetch with a streamed body) and so sends the
// Authorization header, which a native EventSource could not.
'use strict';

const path = require('path');
const esbuild = require('esbuild');

const outDir = process.argv[2];
if (!outDir) {
  process.stderr.write('usage: build.js <out dir>\n');
  process.exit(2);
}

esbuild.build({
  entryPoints: [path.join(__dirname, 'bundle_entry.js')],
  bundle: true,
  platform: 'browser',
  format: 'iife',
  outfile: path.join(outDir, 'losant-rest.bundle.js'),
  alias: {
    http: 'stream-http',
    https: 'https-browserify',
    url: 'url',
    events: 'events',
    util: 'util',
    buffer: 'buffer',
  },
  inject: [path.join(__dirname, 'node_globals.js')],
  define: { global: 'globalThis' },
  absWorkingDir: __dirname, // where the aliases resolve
  logLevel: 'warning',
}).catch(() => process.exit(1));
