import {execa} from 'execa'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {initSandboxes, type InitSandbox} from '../support/init-shell.js'
import {ROOT} from '../support/integration.js'

/**
 * The init's descriptor step (close_inherited_descriptors): started with descriptors 3, 7 and 12
 * open on a marker file, it re-executes "$0" through perl with only 0, 1 and 2. Here "$0" is a
 * small script that shows what it got: the re-exec's flag, its arguments, and (by exec'ing ls)
 * the open descriptors, where ls adds its own, on /proc/<pid>/fd. bash opens the descriptors,
 * as dash cannot name one above 9.
 */
const newSandbox = initSandboxes()

const LISTER = 'echo "closed=${INCEPTION_DESCRIPTORS_CLOSED:-} args=$*"\nexec ls -l /proc/self/fd\n'

/** Runs `command` (sh) from bash, which first opens 3, 7 and 12 on the marker; returns the lister's report. */
async function withInherited(box: InitSandbox, command: string) {
  const marker = box.write('marker', '')
  const lister = box.write('list-fds', LISTER)
  const result = await execa('bash', ['-c', `exec 3<"$MARKER" 7<"$MARKER" 12<"$MARKER"; ${command}`], {
    cwd: ROOT,
    reject: false,
    extendEnv: false,
    env: {PATH: process.env.PATH ?? '/usr/bin:/bin', MARKER: marker, LISTER: lister, INCEPTION_INIT_SOURCED: '1', INCEPTION_LIB: join(ROOT, 'image')},
  })
  expect(result.exitCode, result.stderr).toBe(0)
  const [first, ...listing] = String(result.stdout).split('\n')
  // "lr-x------ 1 root root 64 Jan 1 00:00 3 -> /path": descriptor and target.
  const descriptors = new Map(
    listing
      .map((line) => / (\d+) -> (.*)$/.exec(line))
      .filter((m) => m !== null)
      .map((m) => [Number(m[1]), m[2]]),
  )
  return {first, descriptors, marker}
}

describe("the init's descriptor step", () => {
  it('re-executes the init with only 0, 1 and 2 open, and its arguments', async () => {
    const box = newSandbox()
    const {first, descriptors, marker} = await withInherited(box, `exec sh -c '. ./image/init.sh; close_inherited_descriptors "$@"' "$LISTER" one 'two words'`)
    expect(first).toBe('closed=1 args=one two words')
    const above = [...descriptors].filter(([fd]) => fd > 2)
    // All that is left above 2 is the directory ls lists.
    expect(above).toHaveLength(1)
    expect(above[0]?.[1]).toMatch(/^\/proc\/\d+\/fd$/)
    expect([...descriptors.values()]).not.toContain(marker)
    expect([0, 1, 2].every((fd) => descriptors.has(fd))).toBe(true)
  })

  it('without the step, the same start leaves them open (the check above can fail)', async () => {
    const box = newSandbox()
    const {first, descriptors, marker} = await withInherited(box, 'exec sh "$LISTER"')
    expect(first).toBe('closed= args=')
    for (const fd of [3, 7, 12]) expect(descriptors.get(fd)).toBe(marker)
  })

  it('after the re-exec, the step clears its flag and lets the init go on', async () => {
    const box = newSandbox()
    const result = await box.run('close_inherited_descriptors\necho "went on, flag=${INCEPTION_DESCRIPTORS_CLOSED:-cleared}"', {
      INCEPTION_DESCRIPTORS_CLOSED: '1',
    })
    expect(result.exitCode, result.stderr).toBe(0)
    expect(result.stdout).toBe('went on, flag=cleared')
  })
})
