import {execa} from 'execa'
import {expect} from 'vitest'
import {existsSync, readdirSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {connectEngine} from '../../src/nesting/dockerode-engine.js'
import type {Engine} from '../../src/nesting/engine.js'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const BIN = fileURLToPath(new URL('../../bin/run.js', import.meta.url))

/**
 * The engine integration tests run against. Where none answers: under CI (CI=true) the test
 * file fails, because a CI run that tests nothing must not pass; elsewhere (a laptop without
 * Docker) its tests are skipped, and the reason is printed.
 */
export async function integrationEngine(): Promise<Engine | undefined> {
  try {
    return await connectEngine(process.env, 5000)
  } catch (error) {
    const reason = `no Docker engine answers (${(error as Error).message}); start one with: sh scripts/ensure-engine.sh`
    if (process.env.CI === 'true') throw new Error(`integration tests need an engine under CI: ${reason}`)
    console.warn(`skipping integration tests: ${reason}`)
    return undefined
  }
}

export interface CliResult {
  exitCode: number
  stdout: string
  stderr: string
  durationMs: number
}

export interface CliOptions {
  /** Another Node binary to run the CLI with. */
  node?: string
  /** Standard input; without it, the CLI's stdin is closed. */
  input?: string
  env?: Record<string, string>
  timeout?: number
  cwd?: string
}

/** Runs the real CLI (bin/run.js over dist/), as a user would; `node` is another Node binary to run it with. */
export async function cli(args: string[], {node = 'node', input, env = {CI: 'true'}, timeout = 180_000, cwd}: CliOptions = {}): Promise<CliResult> {
  const started = Date.now()
  const result = await execa(node, [BIN, ...args], {reject: false, timeout, env, cwd, ...(input === undefined ? {stdin: 'ignore' as const} : {input})})
  return {
    exitCode: result.exitCode ?? -1,
    stdout: String(result.stdout ?? ''),
    stderr: String(result.stderr ?? ''),
    durationMs: Date.now() - started,
  }
}

/** `inception exec --name NEST --level LEVEL -- sh -c SCRIPT`, the way most tests reach into a level. */
export async function shAt(nest: string, level: number, script: string, options: CliOptions = {}): Promise<CliResult> {
  return cli(['exec', '--name', nest, '--level', String(level), '--', 'sh', '-c', script], options)
}

/**
 * Removes any nest left by an earlier run under `name`, reads the host, and brings the nest up
 * (`up --name NAME ARGS`), failing the test when `up` fails. Returns the host as it was before.
 */
export async function upFresh(name: string, args: string[]): Promise<HostSnapshot> {
  await cli(['down', '--name', name])
  const before = await snapshot()
  const up = await cli(['up', '--name', name, ...args])
  expect(up.exitCode, up.stderr).toBe(0)
  return before
}

/** The host state a nest may leave behind: compared before and after, it must be equal. */
export interface HostSnapshot {
  containers: string[]
  volumes: string[]
  networks: string[]
  loopDevices: string[]
  cgroups: string[]
  bridges: string[]
  veths: string[]
  natRules: string[]
  filterRules: string[]
  mounts: string[]
  images: string[]
}

/** A tool's output lines, sorted. A tool that fails fails the snapshot: a check must not read nothing and pass. */
async function lines(command: string, args: string[]): Promise<string[]> {
  const result = await execa(command, args, {reject: false})
  if (result.exitCode !== 0) throw new Error(`snapshot: \`${command} ${args.join(' ')}\` failed (${result.exitCode}): ${String(result.stderr).trim()}`)
  return String(result.stdout ?? '')
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .sort()
}

/**
 * The cgroups Docker made for containers, in every layout: cgroup v1 (HIERARCHY/docker/ID, the
 * cgroup2 mount beside v1 included) and v2 (docker/ID with the cgroupfs driver,
 * system.slice/docker-ID.scope with systemd's).
 */
function dockerCgroups(root = '/sys/fs/cgroup'): string[] {
  if (!existsSync(root)) return []
  const found: string[] = []
  const children = (dir: string, keep: (name: string) => boolean = () => true) =>
    existsSync(`${root}/${dir}`)
      ? readdirSync(`${root}/${dir}`, {withFileTypes: true})
          .filter((e) => e.isDirectory() && keep(e.name))
          .map((e) => `${dir}/${e.name}`)
      : []
  found.push(...children('docker'), ...children('system.slice', (name) => name.startsWith('docker-')))
  for (const hierarchy of readdirSync(root, {withFileTypes: true})) {
    if (hierarchy.isDirectory()) found.push(...children(`${hierarchy.name}/docker`))
  }
  return [...new Set(found)].sort()
}

export async function snapshot(): Promise<HostSnapshot> {
  const taken: HostSnapshot = {
    containers: await lines('docker', ['ps', '-a', '--format', '{{.ID}} {{.Names}}']),
    volumes: await lines('docker', ['volume', 'ls', '-q']),
    networks: await lines('docker', ['network', 'ls', '-q']),
    loopDevices: await lines('losetup', ['-a']),
    cgroups: dockerCgroups(),
    bridges: await lines('ip', ['-o', 'link', 'show', 'type', 'bridge']).then((l) => l.map((line) => line.split(':')[1]!.trim()).sort()),
    veths: await lines('ip', ['-o', 'link', 'show', 'type', 'veth']).then((l) => l.map((line) => line.split(':')[1]!.trim().split('@')[0]!).sort()),
    natRules: await lines('iptables', ['-t', 'nat', '-S']),
    filterRules: await lines('iptables', ['-t', 'filter', '-S']),
    mounts: await lines('sh', ['-c', "cut -d' ' -f2,3 /proc/self/mounts"]),
    // Every image but the level image itself (which `inception build` may replace meanwhile).
    images: (await lines('docker', ['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'])).filter((l) => !l.startsWith('inception:')),
  }
  // A host with a running engine always has these: an empty one means the snapshot saw nothing.
  for (const key of ['bridges', 'natRules', 'filterRules', 'mounts', 'networks'] as const) {
    if (taken[key].length === 0) throw new Error(`snapshot: read no ${key} from this host; the leak check would compare nothing`)
  }
  return taken
}

/**
 * Makes sure a program from Debian's packages is installed, for tests that drive a browser or a
 * terminal: installed with apt-get as root on Debian, never downloaded from anywhere else.
 * Returns a reason when it cannot be had (the caller fails under CI, skips elsewhere).
 */
export async function ensureDebianPackage(program: string, pkg: string): Promise<string | undefined> {
  if ((await execa('sh', ['-c', `command -v ${program}`], {reject: false})).exitCode === 0) return undefined
  if (process.getuid?.() !== 0 || !existsSync('/etc/debian_version')) return `${program} is missing; install the Debian package ${pkg}`
  const install = await execa(
    'sh',
    ['-c', `apt-get install -y -qq --no-install-recommends ${pkg} || (apt-get update -qq && apt-get install -y -qq --no-install-recommends ${pkg})`],
    {
      reject: false,
      env: {DEBIAN_FRONTEND: 'noninteractive'},
      timeout: 600_000,
    },
  )
  return install.exitCode === 0 ? undefined : `apt-get install ${pkg} failed: ${String(install.stderr).trim().split('\n').pop()}`
}

/** One level as `inception ps --json` shows it (the fields tests look at). */
export interface PsLevel {
  level: number
  containerId: string
  hostname: string
  state: string
  detail: string
  dockerdVersion: string
  storageDriver: string
  privilege: string
  capabilities: string[]
  bridge: string
  memoryBytes?: number
  endpoint?: string
}

/** `inception ps --name NAME --json`: the nest's levels, and how long ps took. */
export async function psLevels(name: string): Promise<{levels: PsLevel[]; durationMs: number; stderr: string}> {
  const result = await cli(['ps', '--name', name, '--json'])
  if (result.exitCode !== 0) throw new Error(`inception ps --name ${name} failed (${result.exitCode}): ${result.stderr}`)
  return {levels: (JSON.parse(result.stdout) as Array<{levels: PsLevel[]}>)[0]!.levels, durationMs: result.durationMs, stderr: result.stderr}
}
