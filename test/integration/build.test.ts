import {execa} from 'execa'
import {describe, expect, it} from 'vitest'

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
