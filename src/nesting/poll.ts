import {setTimeout as sleep} from 'node:timers/promises'

/** Time as a wait sees it; tests pass their own to wait without waiting. */
export interface Clock {
  now(): number
  /** Resolves after `ms`, or early (never rejecting) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => sleep(ms, undefined, {signal}).catch(() => undefined),
}

export interface PollOptions {
  /** Pause between attempts. */
  intervalMs: number
  /** Give up this long after the first attempt; without it, the attempt decides when to stop (by throwing). */
  timeoutMs?: number
  /** What to throw when the time is up. */
  onTimeout?: () => Error | Promise<Error>
  /** Ends the wait between attempts: the next attempt runs at once and sees the abort. */
  signal?: AbortSignal
  clock?: Clock
}

/**
 * The one wait loop: calls `attempt` until it returns something other than undefined, pausing
 * `intervalMs` between calls. An attempt that throws ends the wait with its error.
 */
export async function pollUntil<T>(attempt: () => Promise<T | undefined>, options: PollOptions): Promise<T> {
  const clock = options.clock ?? systemClock
  const deadline = options.timeoutMs === undefined ? Infinity : clock.now() + options.timeoutMs
  for (;;) {
    const result = await attempt()
    if (result !== undefined) return result
    if (clock.now() >= deadline) throw options.onTimeout ? await options.onTimeout() : new Error(`gave up after ${options.timeoutMs} ms`)
    await clock.sleep(options.intervalMs, options.signal)
  }
}
