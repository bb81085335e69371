import {execa} from 'execa'
import {afterEach} from 'vitest'
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'

import {ROOT} from './integration.js'

/**
 * Runs steps of the level init (image/init.sh and the steps it sources from image/init/) in `sh`,
 * sourced (INCEPTION_INIT_SOURCED=1), inside a sandbox directory: no engine, and nothing that
 * touches the real system. Every command a step could change the system with is a fake script
 * first on PATH that logs "NAME ARGS" to the sandbox's call log and then runs the body a test
 * gives it (by default: succeed). The state directory, the board, the plan and the engines' pid
 * file and socket are moved into the sandbox: a step that removes dockerd's pid file must not
 * remove the machine's own (a test of the machine's engine reads it to restart that engine).
 */

/** Commands the init runs that must never run for real in a test. */
const FAKED = [
  'mount',
  'umount',
  'mountpoint',
  'mknod',
  'truncate',
  'fallocate',
  'mkfs.ext4',
  'fuse-overlayfs',
  'update-alternatives',
  'iptables-nft',
  'ip6tables',
  'dockerd',
  'containerd',
  'docker',
] as const

export interface InitRun {
  exitCode: number
  stdout: string
  stderr: string
  /** The fakes' calls, in order: "NAME ARGS". */
  calls: string[]
}

export interface InitSandbox {
  dir: string
  /** A path inside the sandbox. */
  path(...parts: string[]): string
  /** Writes a file inside the sandbox (parents made), returning its path. */
  write(relative: string, text: string): string
  /**
   * Runs `script` after sourcing the init, with these variables on top of INCEPTION_INIT_SOURCED,
   * INCEPTION_LIB, and the data directory and cgroup root moved to the sandbox's data/ and cgroup/.
   */
  run(script: string, env?: Record<string, string>): Promise<InitRun>
  remove(): void
}

export type SandboxFakes = Parameters<typeof initSandbox>[0]

/** For a test file: makes sandboxes that are removed after each test. */
export function initSandboxes(): (fakes?: SandboxFakes) => InitSandbox {
  const made: InitSandbox[] = []
  afterEach(() => {
    for (const sandbox of made.splice(0)) sandbox.remove()
  })
  return (fakes = {}) => {
    const sandbox = initSandbox(fakes)
    made.push(sandbox)
    return sandbox
  }
}

/**
 * A sandbox whose fakes run the given bodies (shell, after the call is logged; "$SANDBOX" is the
 * sandbox directory). Commands of FAKED not given succeed and print nothing; a test may fake any
 * other command too (such as `nice`, to hold the seed's unpacking back), with a body of its own.
 */
export function initSandbox(fakes: Partial<Record<(typeof FAKED)[number], string>> & Record<string, string> = {}): InitSandbox {
  const dir = mkdtempSync(join(tmpdir(), 'itest-init-'))
  const bin = join(dir, 'bin')
  mkdirSync(bin)
  for (const name of new Set([...FAKED, ...Object.keys(fakes)])) {
    const file = join(bin, name)
    writeFileSync(file, `#!/bin/sh\nprintf '%s\\n' "${name} $*" >>"$SANDBOX/calls.log"\n${fakes[name] ?? 'exit 0'}\n`)
    chmodSync(file, 0o755)
  }
  const path = (...parts: string[]) => join(dir, ...parts)
  return {
    dir,
    path,
    write(relative, text) {
      const file = path(relative)
      mkdirSync(dirname(file), {recursive: true})
      writeFileSync(file, text)
      return file
    },
    async run(script, env = {}) {
      rmSync(path('calls.log'), {force: true})
      const prelude = [
        '. ./image/init.sh',
        'STATE_DIR="$SANDBOX/state"',
        'BOARD_DIR="$SANDBOX/board"',
        'TLS_DIR="$SANDBOX/tls"',
        'PLAN_DIR="$SANDBOX/plan"',
        'DOCKERD_PID_FILE="$SANDBOX/docker.pid"',
        'CONTAINERD_SOCKET="$SANDBOX/containerd.sock"',
        'CLIENT_CONFIG_DIR="$SANDBOX/client-config"',
        '',
      ].join('\n')
      const result = await execa('sh', ['-c', `${prelude}${script}`], {
        cwd: ROOT,
        reject: false,
        extendEnv: false,
        env: {
          PATH: `${bin}:${process.env.PATH ?? '/usr/bin:/bin'}`,
          SANDBOX: dir,
          INCEPTION_INIT_SOURCED: '1',
          INCEPTION_LIB: join(ROOT, 'image'),
          // Roots a step writes to are the sandbox's unless a test says otherwise.
          INCEPTION_DATA_DIR: path('data'),
          INCEPTION_CGROUP_ROOT: path('cgroup'),
          ...env,
        },
      })
      const log = path('calls.log')
      const calls = existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : []
      return {exitCode: result.exitCode ?? -1, stdout: String(result.stdout), stderr: String(result.stderr), calls}
    },
    remove() {
      rmSync(dir, {recursive: true, force: true})
    },
  }
}

/** A fake /proc/self/status holding only the bounding set (hex, as the kernel prints it). */
export function statusWithBoundingSet(bits: bigint): string {
  return `Name:\tinit\nCapBnd:\t${bits.toString(16).padStart(16, '0')}\n`
}
