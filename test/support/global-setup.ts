import {execa} from 'execa'
import {fileURLToPath} from 'node:url'

import {connectEngine} from '../../src/nesting/dockerode-engine.js'

/**
 * Builds the level image once for every integration test, through the CLI itself: on a fresh
 * machine that is the offline path (no registry: the base is bootstrapped from Debian's packages).
 */
export default async function setup(): Promise<void> {
  try {
    await connectEngine(process.env, 5000)
  } catch {
    return // each integration file reports the missing engine itself
  }
  const bin = fileURLToPath(new URL('../../bin/run.js', import.meta.url))
  const started = Date.now()
  const result = await execa('node', [bin, 'build'], {reject: false, all: true, env: {CI: 'true'}})
  if (result.exitCode !== 0) throw new Error(`inception build failed:\n${result.all}`)
  console.log(`global setup: inception build in ${((Date.now() - started) / 1000).toFixed(1)}s: ${String(result.all).trim().split('\n').pop()}`)
}
