import {execa} from 'execa'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {ROOT} from '../support/integration.js'

/**
 * The commands oclif loads are the bundles of scripts/bundle-commands.js (dist/cli/), built by
 * `npm test` before this runs. Every other CLI test runs them; these check what those cannot see:
 * that oclif loads the bundles, not tsc's modules, and that the bundles leave outside what
 * lazy-dependencies.ts defers, so its stand-ins still stand (a copy bundled in would load at every
 * start, without a line in any output).
 */
const DEFERRED = ['@grpc/grpc-js', '@grpc/proto-loader', 'ssh2', 'cpu-features', 'uuid', 'tar-fs']

interface ManifestCommand {
  relativePath: string[]
}

describe('the bundled commands', () => {
  const cli = join(ROOT, 'dist', 'cli')

  it('are what oclif loads: every command of the manifest is a file of dist/cli/', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, '.oclif.manifest.json'), 'utf8')) as {commands: Record<string, ManifestCommand>}
    const paths = Object.values(manifest.commands).map((command) => command.relativePath.join('/'))
    expect(paths.length).toBeGreaterThanOrEqual(9)
    for (const path of paths) {
      expect(path).toMatch(/^dist\/cli\/[a-z-]+\.js$/)
      expect(existsSync(join(ROOT, path))).toBe(true)
    }
    // The shared code beside them is never taken for a command (package.json's pattern leaves out _*.js).
    expect(readdirSync(cli).filter((file) => file.startsWith('_')).length).toBeGreaterThan(0)
  })

  it('hold no copy of what lazy-dependencies.ts defers: esbuild names each module it bundles', () => {
    const bundled = readdirSync(cli)
      .filter((file) => file.endsWith('.js'))
      .map((file) => readFileSync(join(cli, file), 'utf8'))
      .join('\n')
    // A line `// PATH` before each module's code, PATH relative to the working folder.
    const named = (name: string) => new RegExp(`^// \\S*node_modules/${name.replace('/', '\\/')}/`, 'm')
    // The check reads something: dockerode is bundled, and named so.
    expect(bundled).toMatch(named('dockerode'))
    for (const name of DEFERRED) expect(bundled).not.toMatch(named(name))
  })

  it('load none of it when a command runs: Node reports every module it requires', async () => {
    // `ps` loads dockerode and the domain, then finds no engine at the address given: no engine is needed to read what it loaded.
    const result = await execa('node', [join(ROOT, 'bin', 'run.js'), 'ps'], {
      reject: false,
      env: {NODE_DEBUG: 'module', DOCKER_HOST: 'unix:///nonexistent/inception-bundle-test.sock', CI: 'true'},
    })
    expect(result.exitCode).not.toBe(0)
    const loaded = [...String(result.stderr).matchAll(/load "([^"]+)"/g)].map((m) => m[1]!)
    // The check reads something: oclif's own modules are required from node_modules.
    expect(loaded.some((path) => path.includes('node_modules/@oclif/core/'))).toBe(true)
    for (const name of DEFERRED) expect(loaded.filter((path) => path.includes(`node_modules/${name}/`))).toEqual([])
  })
})
