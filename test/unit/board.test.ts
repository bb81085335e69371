import {describe, expect, it} from 'vitest'

import {boardFromFiles, firstFailure, parseBoard, readyDepth} from '../../src/nesting/board.js'

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

  it('reads the same states and details from the board files as they are (the archive read), skipping other files', () => {
    const reports = boardFromFiles(
      {
        'level-1': 'ready overlay2\n',
        'level-2': 'failed dockerd exited\n',
        'info-1': 'id=abc\nhostname=abc123\n',
        // What a level writes before renaming it into place: not its state yet.
        '.level-3.tmp': 'failed half-written\n',
        collapsing: '',
        spool: 'x',
      },
      3,
    )
    expect(reports.map((r) => r.state)).toEqual(['ready', 'failed', 'absent'])
    expect(reports[0]!.detail).toBe('overlay2')
    expect(reports[0]!.info).toEqual({id: 'abc', hostname: 'abc123'})
    expect(reports[1]!.detail).toBe('dockerd exited')
    expect(reports[0]!.memoryBytes).toBeUndefined()
  })
})
