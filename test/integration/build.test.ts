import {execa} from 'execa'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {DEFAULT_IMAGE} from '../../src/nesting/suites.js'
import {VERSION} from '../../src/nesting/version.js'
import {cli, integrationEngine} from '../support/integration.js'

const engine = await integrationEngine()

describe.skipIf(!engine)('inception build', () => {
  it('reuses the existing image when image/ has not changed', async () => {
    const result = await cli(['build'])
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toContain(`image ${DEFAULT_IMAGE} is up to date with image/; reused`)
    expect(result.stdout).not.toContain('Building')
  })

  it('holds dockerd, containerd, runc, the docker CLI, iptables and the init, without apt caches', async () => {
    const probe = await execa('docker', [
      'run',
      '--rm',
      '--entrypoint',
      'sh',
      DEFAULT_IMAGE,
      '-c',
      'for p in dockerd containerd runc docker iptables inception-init; do command -v $p >/dev/null || echo "missing $p"; done; ' +
        'ls /var/lib/apt/lists | grep -v -e lock -e partial | wc -l; ' +
        'ls /usr/local/lib/inception/',
    ])
    expect(probe.stdout).not.toContain('missing')
    const [aptLists, ...packed] = probe.stdout.trim().split('\n')
    expect(aptLists).toBe('0')
    expect(packed).toEqual(expect.arrayContaining(['level-rootfs.tar', 'busybox-rootfs.tar']))
  })

  // Level 1 unpacks both images into its data root before it can start level 2, and a new inode
  // (a file, a folder, a symbolic link) is what that costs: busybox's applets are hard links, and
  // the level image keeps the CA bundle but not the per-certificate links that duplicate it.
  it('packs the images every level unpacks with few new files: applets as hard links, the CA bundle without its links', async () => {
    const listing = async (tar: string) =>
      (await execa('docker', ['run', '--rm', '--entrypoint', 'tar', DEFAULT_IMAGE, '-tvf', `/usr/local/lib/inception/${tar}`])).stdout.trim().split('\n')
    const busybox = await listing('busybox-rootfs.tar')
    // tar stores the first name it meets as the file and every other name as a link to it.
    const programs = busybox.filter((line) => line.startsWith('-') && line.includes(' ./bin/'))
    expect(programs).toHaveLength(1)
    const program = programs[0]!.split(' ').at(-1)
    expect(busybox.filter((line) => line.startsWith('h') && line.endsWith(` link to ${program}`)).length).toBeGreaterThan(200)
    expect(busybox.filter((line) => line.startsWith('l'))).toEqual([])
    const level = await listing('level-rootfs.tar')
    expect(level.some((line) => line.startsWith('-') && line.endsWith(' ./etc/ssl/certs/ca-certificates.crt'))).toBe(true)
    expect(level.filter((line) => line.includes(' ./etc/ssl/certs/') && !line.endsWith('/ca-certificates.crt') && !line.endsWith('/certs/'))).toEqual([])
  })

  it('declares /var/lib/docker a volume and carries its version', async () => {
    const inspect = await execa('docker', [
      'image',
      'inspect',
      '--format',
      '{{json .Config.Volumes}} {{index .Config.Labels "io.inception.version"}}',
      DEFAULT_IMAGE,
    ])
    expect(inspect.stdout).toBe(`{"/var/lib/docker":{}} ${VERSION}`)
  })
})

/**
 * --base, --tag and --force, built for real. The base is the level image itself with a marker file
 * added (made here with `docker build`, offline): every package the Dockerfile installs is already
 * there, so the build is quick, and the marker in the result shows which base it was built from.
 */
describe.skipIf(!engine)('inception build --base, --tag, --force', () => {
  const BASE = 'itest-base:marked'
  const TAG = 'itest-built:flags'
  const dir = mkdtempSync(join(tmpdir(), 'inception-base-'))

  afterAll(async () => {
    await execa('docker', ['rmi', TAG, BASE], {reject: false})
    rmSync(dir, {recursive: true, force: true})
  })

  const inspect = async (image: string) =>
    (await execa('docker', ['image', 'inspect', '--format', '{{.Id}} {{.Created}}', image], {reject: false})).stdout.trim().split(' ')

  it('builds from the base given, under the tag given, reuses it, and rebuilds it with --force', async () => {
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${DEFAULT_IMAGE}\nRUN echo itest-base > /itest-base-marker\n`)
    await execa('docker', ['build', '-q', '-t', BASE, dir])
    await execa('docker', ['rmi', TAG], {reject: false})
    const [defaultBefore] = await inspect(DEFAULT_IMAGE)

    const built = await cli(['build', '--base', BASE, '--tag', TAG], {timeout: 600_000})
    expect(built.exitCode, built.stdout + built.stderr).toBe(0)
    expect(built.stdout).toContain(`built ${TAG}`)
    const marker = await execa('docker', ['run', '--rm', '--entrypoint', 'cat', TAG, '/itest-base-marker'], {reject: false})
    expect(marker.stdout).toBe('itest-base')
    // --tag: the default image was left alone.
    expect((await inspect(DEFAULT_IMAGE))[0]).toBe(defaultBefore)
    const [firstId, firstCreated] = await inspect(TAG)

    const again = await cli(['build', '--base', BASE, '--tag', TAG])
    expect(again.exitCode).toBe(0)
    expect(again.stdout).toContain(`image ${TAG} is up to date with image/; reused`)
    expect((await inspect(TAG))[0]).toBe(firstId)

    const forced = await cli(['build', '--base', BASE, '--tag', TAG, '--force'], {timeout: 600_000})
    expect(forced.exitCode, forced.stdout + forced.stderr).toBe(0)
    expect(forced.stdout).toContain(`built ${TAG}`)
    const [forcedId, forcedCreated] = await inspect(TAG)
    expect(forcedId).not.toBe(firstId)
    expect(Date.parse(forcedCreated!)).toBeGreaterThan(Date.parse(firstCreated!))
  }, 1_200_000)
})
