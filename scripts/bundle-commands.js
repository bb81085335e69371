// The CLI's commands as oclif loads them: each of tsc's dist/commands/*.js bundled, with its
// imports, into dist/cli/ (where package.json's oclif.commands points). A command's module graph
// is some 70 of our modules and a few hundred of its libraries' (dockerode, execa, listr2 and
// theirs), each a file Node finds, reads, parses and links at every start; one file per command
// starts about 0.1 s sooner (measured, `exec --level 1 -- true`: see the README's start-up
// figures). tsc's dist/ stays as it is for the typed API, the bench and the tests.
//
// dist/cli/ is two folders deep, as dist/nesting/ is, so the paths modules find from their own
// URL (version.ts: package.json and image/) stay right; so code shared by commands, and what they
// import only when used (execa, the state lock), goes there too, in files named _*.js, which
// oclif's command pattern (package.json) leaves out. Left outside the bundle, loaded from node_modules as before:
// - @oclif/core: oclif loads it first, to find the command; a second copy would be parsed again.
// - what lazy-dependencies.ts defers (gRPC, ssh2, uuid, tar-fs), read from it: its stand-ins sit
//   in Node's module cache, which only a real require reaches. (Importing it gives this process
//   the stand-ins too, which it never uses.)
// - what is imported only when used and large: @peculiar/x509 (TLS), and typescript, which
//   oclif imports only for a project run from its sources.
import {build} from 'esbuild'
import {readdirSync} from 'node:fs'

import {DEFERRED_MODULES} from '../dist/nesting/lazy-dependencies.js'

const commands = readdirSync('dist/commands')
  .filter((file) => file.endsWith('.js'))
  .map((file) => `dist/commands/${file}`)

await build({
  entryPoints: commands,
  outdir: 'dist/cli',
  chunkNames: '_[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['@oclif/core', ...DEFERRED_MODULES, '@peculiar/*', 'typescript'],
  // The CommonJS libraries in the bundle call require() for Node's modules and the ones above.
  banner: {js: "import {createRequire as inceptionCreateRequire} from 'node:module'; const require = inceptionCreateRequire(import.meta.url);"},
  logLevel: 'warning',
})
