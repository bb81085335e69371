import {execa, type ResultPromise} from 'execa'

import {ROOT} from './integration.js'

/**
 * Starts `inception demo ARGS` as a user would, in the background, and resolves once it says the
 * top is spinning, with what it printed so far; fails when the demo ends before that.
 */
export async function startDemo(args: string[]): Promise<{demo: ResultPromise<{all: true; reject: false}>; output: string}> {
  const demo = execa('node', ['bin/run.js', 'demo', ...args], {cwd: ROOT, all: true, reject: false, env: {CI: 'true'}})
  let output = ''
  await new Promise<void>((resolve, reject) => {
    demo.all.on('data', (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes('The top is spinning')) resolve()
    })
    void demo.then(() => reject(new Error(`demo ended early:\n${output}`)))
  })
  return {demo, output}
}
