import {execa} from 'execa'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {DEFAULT_IMAGE} from '../../src/nesting/suites.js'
import {cli, integrationEngine, snapshot} from '../support/integration.js'

/** `up --timeout`, used for real: a level whose engine never answers is given up on in that time. */
const engine = await integrationEngine()

describe.skipIf(!engine)('up --timeout', () => {
  const HANG = 'itest-hang:timeout'
  const NAME = 'itest-timeout'
  const dir = mkdtempSync(join(tmpdir(), 'inception-hang-'))

  beforeAll(async () => {
    await cli(['down', '--name', NAME])
    // A level image whose dockerd never answers below level 1: the wait at level 2 can only end by
    // the timeout. (Levels below 1 run their parent's /usr, this script included.)
    const script = ['#!/bin/sh', '[ "$INCEPTION_LEVEL" = 1 ] && exec /usr/sbin/dockerd "$@"', 'exec sleep 3600'].map((line) => `'${line}'`).join(' ')
    writeFileSync(join(dir, 'Dockerfile'), `FROM ${DEFAULT_IMAGE}\nRUN printf '%s\\n' ${script} > /usr/local/bin/dockerd && chmod 755 /usr/local/bin/dockerd\n`)
    await execa('docker', ['build', '-q', '-t', HANG, dir])
  })

  afterAll(async () => {
    await cli(['down', '--name', NAME])
    await execa('docker', ['rmi', HANG], {reject: false})
    rmSync(dir, {recursive: true, force: true})
  })

  it("gives up on level 2's engine after --timeout seconds, says so, and leaves nothing", async () => {
    const before = await snapshot()
    const up = await cli(['up', '--name', NAME, '--depth', '2', '--image', HANG, '--timeout', '3'])
    expect(up.exitCode).toBe(5)
    expect(up.stderr).toMatch(/^inception: level 2 failed: start dockerd: dockerd did not answer within 3s/m)
    // The init gave up after the 3 s asked for (its bounded wait is counted in the unit tests); how long it took is the bench's.
    expect(await snapshot()).toEqual(before)
  })
})
