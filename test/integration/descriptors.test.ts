import {execa} from 'execa'
import {afterAll, describe, expect, it} from 'vitest'

import {decidePrivilege, dockerRunFlags, hostSettingsFor} from '../../src/nesting/privilege.js'
import {DEFAULT_IMAGE} from '../../src/nesting/suites.js'
import {integrationEngine} from '../support/integration.js'

const engine = await integrationEngine()
const NAME = 'inception-itest-descriptors'

/** The docker CLI flags for the privilege mode this engine gives a level. */
async function privilegeFlags(): Promise<string[]> {
  return dockerRunFlags(hostSettingsFor(await decidePrivilege(engine!, DEFAULT_IMAGE, 'auto')))
}

describe.skipIf(!engine)('the init closes inherited descriptors', () => {
  afterAll(async () => {
    await execa('docker', ['rm', '-f', '-v', NAME], {reject: false})
  })

  it('leaves dockerd and the init with none of the descriptors it was started with', async () => {
    // The init is started by a shell (bash: dash cannot name descriptors above 9) that holds
    // descriptors 5, 7 and 12 open on marker files.
    await execa('docker', [
      'run',
      '-d',
      '--name',
      NAME,
      ...(await privilegeFlags()),
      '-v',
      '/var/lib/docker',
      '--entrypoint',
      'bash',
      DEFAULT_IMAGE,
      '-c',
      'exec 5>/tmp/marker-5 7>/tmp/marker-7 12>/tmp/marker-12; exec /usr/local/bin/inception-init',
    ])
    let ready = ''
    for (let i = 0; i < 100 && !ready.startsWith('ready'); i++) {
      ready = (await execa('docker', ['exec', NAME, 'cat', '/run/inception/board/level-1'], {reject: false})).stdout ?? ''
      await new Promise((r) => setTimeout(r, 200))
    }
    expect(ready).toMatch(/^ready/)
    const fds = await execa('docker', ['exec', NAME, 'sh', '-c', 'for p in 1 $(cat /run/inception/dockerd.pid); do echo "pid $p"; ls -l /proc/$p/fd; done'])
    expect(fds.stdout).toMatch(/pid 1\n/)
    expect(fds.stdout).toMatch(/var\/lib\/docker\/volumes\/metadata\.db/) // dockerd's own files: the listing is real
    expect(fds.stdout).not.toContain('marker-')
    // The markers were really open in the shell that started the init.
    const markers = await execa('docker', ['exec', NAME, 'ls', '/tmp'])
    expect(markers.stdout.split('\n').sort()).toEqual(['marker-12', 'marker-5', 'marker-7'])
  })
})
