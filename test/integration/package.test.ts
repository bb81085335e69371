import {execa} from 'execa'
import {copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {cli, integrationEngine, ROOT, snapshot} from '../support/integration.js'

/**
 * The package as a user gets it: `npm pack` of a copy of this repository (its prepack builds dist/
 * and the manifest), installed into a project outside the source tree, whose own vitest file
 * starts a depth-2 nest with the typed API (`await using nest = await up(...)`), runs a container
 * at level 2 through dockerode with `nest.level(2).dockerode`, reads its output, and leaves
 * nothing behind once the block ends.
 */
const engine = await integrationEngine()
const NEST = 'itest-api'

const CONSUMER_TEST = `
import Docker from 'dockerode'
import {expect, it} from 'vitest'
import {attach, up, UsageError} from 'inception'

it('starts a nest from code, runs a container at level 2, and ends it', async () => {
  await expect(up({name: '${NEST}', depth: 0})).rejects.toBeInstanceOf(UsageError)
  {
    await using nest = await up({name: '${NEST}', depth: 2})
    expect([nest.name, nest.depth]).toEqual(['${NEST}', 2])
    const docker = new Docker(nest.level(2).dockerode)
    const container = await docker.createContainer({Image: 'busybox', Cmd: ['echo', 'hello from level 2']})
    await container.start()
    await container.wait()
    const logs = (await container.logs({stdout: true})).toString()
    expect(logs).toContain('hello from level 2')
    const seen = await nest.exec(2, ['docker', 'ps', '-a', '--no-trunc', '--format', '{{.ID}}'])
    expect(seen.exitCode).toBe(0)
    expect(seen.stdout).toContain(container.id)
    expect((await nest.exec(1, ['cat'], {stdin: 'piped'})).stdout).toBe('piped')
    expect(nest.level(1).env.DOCKER_HOST).toBe(nest.level(1).dockerHost)
    // The same nest, from its name, as another process would reach it.
    const again = await attach('${NEST}')
    expect([again.depth, again.level(2).dockerHost]).toEqual([2, nest.level(2).dockerHost])
  }
  console.log('BLOCK ENDED')
})
`

describe.skipIf(!engine)('the package', () => {
  const work = mkdtempSync(join(tmpdir(), 'inception-package-'))
  afterAll(async () => {
    await cli(['down', '--name', NEST])
    rmSync(work, {recursive: true, force: true})
  })

  it('packs from a clean tree, installs elsewhere, and its API runs a nest for a test suite, leaving nothing', async () => {
    // A copy of what git tracks, as a clean clone has it, with this checkout's dependencies.
    const tree = join(work, 'tree')
    for (const file of (await execa('git', ['ls-files', '-z'], {cwd: ROOT})).stdout.split('\0').filter(Boolean)) {
      mkdirSync(dirname(join(tree, file)), {recursive: true})
      copyFileSync(join(ROOT, file), join(tree, file))
    }
    symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'))
    const pack = await execa('npm', ['pack', '--pack-destination', work, '--loglevel=error'], {cwd: tree, reject: false})
    expect(pack.exitCode, pack.stderr).toBe(0)
    const tarball = readdirSync(work).find((file) => file.endsWith('.tgz'))
    expect(tarball).toBeDefined()
    const listed = (await execa('tar', ['-tzf', join(work, tarball!)])).stdout.split('\n')
    expect(listed).toEqual(expect.arrayContaining(['package/dist/index.js', 'package/dist/index.d.ts', 'package/.oclif.manifest.json', 'package/bin/run.js']))

    const app = join(work, 'app')
    mkdirSync(app)
    writeFileSync(join(app, 'package.json'), JSON.stringify({name: 'app', private: true, type: 'module'}))
    const install = await execa('npm', ['install', join(work, tarball!), '--prefer-offline', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: app,
      reject: false,
    })
    expect(install.exitCode, install.stderr).toBe(0)
    writeFileSync(join(app, 'nest.test.ts'), CONSUMER_TEST)
    // Importing the API writes nothing under the user's home (or the state and docker folders it would use).
    const home = join(work, 'home')
    mkdirSync(home)
    const imported = await execa(
      'node',
      ['--input-type=module', '-e', "const api = await import('inception'); console.log(typeof api.up, typeof api.attach)"],
      {
        cwd: app,
        reject: false,
        extendEnv: false,
        env: {PATH: process.env.PATH!, HOME: home},
      },
    )
    expect(imported.stdout.trim(), imported.stderr).toBe('function function')
    expect(readdirSync(home, {recursive: true})).toEqual([])

    const before = await snapshot()
    // This repository's vitest, run on that project: its imports resolve from the project's node_modules.
    const run = await execa('node', [join(ROOT, 'node_modules/vitest/vitest.mjs'), 'run', '--root', app], {cwd: app, reject: false, env: {CI: 'true'}})
    expect(run.exitCode, `${run.stdout}\n${run.stderr}`).toBe(0)
    expect(run.stdout).toContain('BLOCK ENDED')
    expect(await snapshot()).toEqual(before)
  })
})
