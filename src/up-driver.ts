import {Listr, type ListrTask} from 'listr2'

import type {Nests, NestStatus} from './nesting/nest.js'
import type {UpRequest} from './nesting/request.js'

interface Deferred {
  promise: Promise<number>
  resolve(elapsedMs: number): void
  reject(error: unknown): void
}

function deferred(): Deferred {
  let resolve!: (ms: number) => void
  let reject!: (error: unknown) => void
  const promise = new Promise<number>((res, rej) => {
    resolve = res
    reject = rej
  })
  // A level that is never reached is rejected with the nest's error; only the first is shown.
  promise.catch(() => undefined)
  return {promise, resolve, reject}
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`

/**
 * Runs `up` with one progress task per level (listr2; plain lines when not on a terminal).
 * Ctrl-C or SIGTERM aborts: `up` then removes everything it created before it returns.
 */
export async function upWithProgress(nests: Nests, request: UpRequest, options: {quiet: boolean; log: (line: string) => void}): Promise<NestStatus> {
  const controller = new AbortController()
  const abort = () => controller.abort()
  // on, not once (removed in the finally below): a once listener is gone by the time the
  // signal-exit module (loaded by listr2's terminal renderer and by the privilege cache's lock)
  // counts the listeners, and it then re-raises the signal, killing the CLI before it rolls back.
  process.on('SIGINT', abort)
  process.on('SIGTERM', abort)
  try {
    const prepared = await nests.prepare(request)
    // A cached decision's reason already says it was decided earlier on this engine.
    options.log(`privilege: ${prepared.decision.mode} (${prepared.decision.reason})`)
    for (const note of prepared.notes ?? []) options.log(note)
    const levels = Array.from({length: request.depth}, () => deferred())
    const upDone = nests.launch(
      prepared,
      {
        levelState(level, state, elapsedMs) {
          if (state === 'ready') levels[level - 1]?.resolve(elapsedMs)
        },
      },
      controller.signal,
    )
    upDone.catch((error: unknown) => {
      for (const level of levels) level.reject(error)
    })
    const tasks = levels.map((level, index): ListrTask => ({
      title: `Level ${index + 1}: starting dockerd`,
      task: async (_, task) => {
        const elapsed = await level.promise
        task.title = `Level ${index + 1}: ready at ${seconds(elapsed)}`
      },
    }))
    const list = new Listr(tasks, {
      exitOnError: true,
      // listr2's own handler would exit with 127 on Ctrl-C, before `launch` rolls the nest back.
      registerSignalListeners: false,
      renderer: options.quiet ? 'silent' : 'default',
      fallbackRenderer: options.quiet ? 'silent' : 'simple',
      rendererOptions: {collapseErrors: false},
    })
    // The tasks only mirror `launch`; its own error (typed, with a hint) is the one to report.
    await list.run().catch(() => undefined)
    return await upDone
  } finally {
    process.off('SIGINT', abort)
    process.off('SIGTERM', abort)
  }
}
