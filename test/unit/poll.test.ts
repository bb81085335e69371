import {describe, expect, it} from 'vitest'

import {type Clock, pollUntil} from '../../src/nesting/poll.js'

/** A clock whose sleeps pass at once, moving its time on by what was asked. */
function fakeClock(): Clock & {slept: number[]} {
  let now = 1_000
  const slept: number[] = []
  return {
    slept,
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms)
      now += ms
    },
  }
}

describe('pollUntil', () => {
  it('returns the first answer, pausing the interval between attempts', async () => {
    const clock = fakeClock()
    let attempts = 0
    const answer = await pollUntil(async () => (++attempts === 3 ? 'ready' : undefined), {intervalMs: 50, clock})
    expect(answer).toBe('ready')
    expect(clock.slept).toEqual([50, 50])
  })

  it('throws what onTimeout makes once the time is up, after a last attempt', async () => {
    const clock = fakeClock()
    let attempts = 0
    const waiting = pollUntil(
      async () => {
        attempts++
        return undefined
      },
      {intervalMs: 100, timeoutMs: 250, clock, onTimeout: () => new Error('held too long')},
    )
    await expect(waiting).rejects.toThrow('held too long')
    expect(attempts).toBe(4)
  })

  it('ends with the error an attempt throws', async () => {
    await expect(pollUntil(async () => Promise.reject(new Error('level 2 failed')), {intervalMs: 10, clock: fakeClock()})).rejects.toThrow('level 2 failed')
  })
})
