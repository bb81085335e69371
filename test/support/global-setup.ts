import {execa} from 'execa'
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

import {connectEngine} from '../../src/nesting/dockerode-engine.js'

/**
 * Gives the integration run a state folder of its own (XDG_STATE_HOME, inherited by the test
 * processes, which start after this), so that no decision or certificate of the user's is read
 * and none is left; then builds the level image once for every integration test, through the
 * CLI itself: on a fresh machine that is the offline path (no registry: the base is bootstrapped
 * from Debian's packages). Returns the teardown, which removes the state folder.
 */
export default async function setup(): Promise<() => void> {
  const stateHome = mkdtempSync(join(tmpdir(), 'inception-itest-state-'))
  process.env.XDG_STATE_HOME = stateHome
  // The docker CLI's configuration too (DOCKER_CONFIG): the contexts every `up` writes go there,
  // not into the user's ~/.docker. The engine is DOCKER_HOST's, or the default socket.
  process.env.DOCKER_CONFIG = join(stateHome, 'docker-config')
  const teardown = () => rmSync(stateHome, {recursive: true, force: true})
  try {
    await connectEngine(process.env, 5000)
  } catch {
    return teardown // each integration file reports the missing engine itself
  }
  const bin = fileURLToPath(new URL('../../bin/run.js', import.meta.url))
  const started = Date.now()
  const result = await execa('node', [bin, 'build'], {reject: false, all: true, env: {CI: 'true', INCEPTION_PRIVILEGE_CACHE: 'off'}})
  if (result.exitCode !== 0) {
    teardown()
    throw new Error(`inception build failed:\n${result.all}`)
  }
  console.log(`global setup: inception build in ${((Date.now() - started) / 1000).toFixed(1)}s: ${String(result.all).trim().split('\n').pop()}`)
  return teardown
}
