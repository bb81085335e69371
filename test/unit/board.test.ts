import {describe, expect, it} from 'vitest'

import {boardsOfWatch, firstFailure, parseBoard, readyDepth} from '../../src/nesting/board.js'

describe('status board', () => {
  const output = [
    'state 1 ready overlay2',
    'state 2 ready vfs',
    'state 3 failed dockerd did not answer within 60s',
    'info 1 id=abc',
    'info 1 hostname=abc123',
    'info 2 bridge=172.31.1.1/24',
    'memory 1 104857600',
    'memory 2 52428800',
    'alive 2 yes',
    'alive 3 no',
    'garbage line',
  ].join('\n')

  it('reads states, details, memory and liveness per level', () => {
    const reports = parseBoard(output, 4)
    expect(reports.map((r) => r.state)).toEqual(['ready', 'ready', 'failed', 'absent'])
    expect(reports[0]!.info).toEqual({id: 'abc', hostname: 'abc123'})
    expect(reports[1]!.detail).toBe('vfs')
    expect(reports[1]!.memoryBytes).toBe(50 * 2 ** 20)
    expect(reports[2]!.alive).toBe(false)
    expect(readyDepth(reports)).toBe(2)
    expect(firstFailure(reports)?.detail).toBe('dockerd did not answer within 60s')
  })

  it('ignores levels beyond the depth', () => {
    expect(parseBoard('state 5 ready overlay2', 2).every((r) => r.state === 'absent')).toBe(true)
  })

  it("splits a watch's output into boards at each empty line, keeping a board not yet ended", () => {
    const first = boardsOfWatch('state 1 ready overlay2\ninfo 1 id=abc\ninfo 1 hostname=abc123\n\nstate 1 ready overlay2\nstate 2 star', 2)
    expect(first.boards).toHaveLength(1)
    expect(first.boards[0]!.map((r) => r.state)).toEqual(['ready', 'absent'])
    expect(first.boards[0]![0]!.info).toEqual({id: 'abc', hostname: 'abc123'})
    const second = boardsOfWatch(`${first.rest}ting\n\n`, 2)
    expect(second.rest).toBe('')
    expect(second.boards.map((board) => board.map((r) => `${r.state} ${r.detail}`))).toEqual([['ready overlay2', 'starting ']])
  })
})
