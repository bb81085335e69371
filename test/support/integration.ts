import {execa} from 'execa'
import {expect} from 'vitest'
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join, relative} from 'node:path'
import {fileURLToPath} from 'node:url'

import {contextName} from '../../src/nesting/contexts.js'
import {type InitVariable, LABEL, levelName, levelSocketFile, ROOT_SOCKET_BASE} from '../../src/nesting/contract.js'
import {configDir} from '../../src/nesting/endpoint.js'
import {connectEngine} from '../../src/nesting/dockerode-engine.js'
import type {Engine} from '../../src/nesting/engine.js'
import {containerCgroups, engineCgroups, lines, output, readCgroups} from './host-cgroups.js'

export {cgroupMountsFrom, type CgroupPlace, containerCgroups, engineCgroups, type EngineCgroups, readCgroups} from './host-cgroups.js'
export {describeEvent, engineChanges, type EngineEvent, engineEventsDuring} from './engine-events.js'

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
 * (`up --name NAME ARGS`), failing the test when `up` fails or when a snapshot taken with the
 * nest up does not show its parts (a snapshot that reads nothing must not pass). Returns the host
 * as it was before.
 */
export async function upFresh(name: string, args: string[]): Promise<HostSnapshot> {
  await cli(['down', '--name', name])
  const before = await snapshot()
  const up = await cli(['up', '--name', name, ...args])
  expect(up.exitCode, up.stderr).toBe(0)
  // Its contexts too: an `up` that ended well wrote them, unless told not to.
  await expectNestIn(await snapshot(), name, {contexts: !args.includes('--no-contexts')})
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
  /** What is in the folder of root's nests' level sockets (ROOT_SOCKET_BASE), as paths in it. */
  sockets: string[]
  /** The docker contexts in the docker CLI's configuration (DOCKER_CONFIG, which the integration run sets). */
  contexts: string[]
}

export async function snapshot(): Promise<HostSnapshot> {
  const taken: HostSnapshot = {
    containers: await lines('docker', ['ps', '-a', '--no-trunc', '--format', '{{.ID}} {{.Names}}']),
    volumes: await lines('docker', ['volume', 'ls', '-q']),
    networks: await lines('docker', ['network', 'ls', '-q']),
    loopDevices: await lines('losetup', ['-a']),
    cgroups: await readCgroups({}, [await engineCgroups()]),
    bridges: await lines('ip', ['-o', 'link', 'show', 'type', 'bridge']).then((l) => l.map((line) => line.split(':')[1]!.trim()).sort()),
    veths: await lines('ip', ['-o', 'link', 'show', 'type', 'veth']).then((l) => l.map((line) => line.split(':')[1]!.trim().split('@')[0]!).sort()),
    natRules: await lines('iptables', ['-t', 'nat', '-S']),
    filterRules: await lines('iptables', ['-t', 'filter', '-S']),
    mounts: (await output(['cat', '/proc/self/mounts']))
      .split('\n')
      .filter((line) => line.length > 0)
      .map((line) => line.split(' ').slice(1, 3).join(' '))
      .sort(),
    // Every image but the level image itself (which `inception build` may replace meanwhile).
    images: (await lines('docker', ['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}'])).filter((l) => !l.startsWith('inception:')),
    sockets: existsSync(ROOT_SOCKET_BASE) ? readdirSync(ROOT_SOCKET_BASE, {recursive: true, encoding: 'utf8'}).sort() : [],
    contexts: contextNames(),
  }
  // A host with a running engine always has these: an empty one means the snapshot saw nothing.
  // What a nest adds is checked by expectNestIn, on a snapshot taken while it is up.
  for (const key of ['bridges', 'natRules', 'filterRules', 'mounts', 'networks'] as const) {
    if (taken[key].length === 0) throw new Error(`snapshot: read no ${key} from this host; the leak check would compare nothing`)
  }
  return taken
}

/** The names of the contexts in the docker CLI's store, read as the docker CLI reads them. */
function contextNames(): string[] {
  const meta = join(configDir(process.env), 'contexts', 'meta')
  if (!existsSync(meta)) return []
  return readdirSync(meta)
    .map((id) => (JSON.parse(readFileSync(join(meta, id, 'meta.json'), 'utf8')) as {Name: string}).Name)
    .sort()
}

/** What `docker inspect` says of a level 1 container, the fields the presence check needs. */
interface LevelOneInspect {
  Id: string
  State: {Pid: number}
  HostConfig: {NetworkMode: string}
  Config: {Env: string[] | null; Labels: Record<string, string> | null}
}

/** `docker inspect` of a nest's level 1 on the engine `env` points at. */
export async function inspectLevelOne(name: string, env: Record<string, string> = {}): Promise<LevelOneInspect> {
  return (JSON.parse(await output(['docker', 'inspect', levelName(name, 1)], env)) as LevelOneInspect[])[0]!
}

/**
 * Fails unless a snapshot taken while nest `name` is up holds its parts on this machine: level 1's
 * container and volume, its cgroup in every hierarchy, the host end of each of its veths, and its
 * loop device when its data root is a loop file. A snapshot that read nothing cannot pass this,
 * so the same snapshot code compared before and after a nest can be trusted to see a leak.
 */
export async function expectNestIn(taken: HostSnapshot, name: string, {contexts = false} = {}): Promise<void> {
  const levelOne = await inspectLevelOne(name)
  const where = `a snapshot taken while nest "${name}" is up`
  const sockets = levelOne.Config.Labels?.[LABEL.sockets]
  if (sockets?.startsWith(`${ROOT_SOCKET_BASE}/`)) {
    expect(taken.sockets, `${where}: its level sockets`).toContain(join(relative(ROOT_SOCKET_BASE, sockets), levelSocketFile(1)))
  }
  if (contexts && sockets) expect(taken.contexts, `${where}: its docker contexts`).toContain(contextName(name, 1))
  expect(taken.containers, `${where}: its level 1 container`).toContain(`${levelOne.Id} ${levelName(name, 1)}`)
  expect(taken.volumes, `${where}: its volume`).toContain(levelName(name, 1))
  expect(taken.cgroups, `${where}: its cgroups`).toEqual(expect.arrayContaining(await containerCgroups({}, await engineCgroups(), levelOne.Id)))
  const pid = String(levelOne.State.Pid)
  if (!['none', 'host'].includes(levelOne.HostConfig.NetworkMode)) {
    // Level 1's own interfaces are eth0, eth1...; `@ifN` names their peer's index on this machine.
    const peers = [...(await output(['nsenter', '-t', pid, '-n', 'ip', '-o', 'link', 'show'])).matchAll(/^\d+: eth\d+@if(\d+):/gm)].map((m) => m[1]!)
    expect(peers.length, `${where}: level 1 has no eth interface with a peer here`).toBeGreaterThan(0)
    const links = await output(['ip', '-o', 'link', 'show'])
    const veths = peers.map((index) => new RegExp(`^${index}: ([^:@]+)`, 'm').exec(links)?.[1] ?? `no link with index ${index}`)
    expect(taken.veths, `${where}: its veths`).toEqual(expect.arrayContaining(veths))
  }
  const dataRoot = (levelOne.Config.Env ?? []).find((variable) => variable.startsWith(`${'INCEPTION_DATA_ROOT' satisfies InitVariable}=`))
  if (dataRoot?.includes('=loop:')) {
    const loops = [
      ...new Set(
        readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
          .split('\n')
          .map((line) => line.split(' - ')[1]?.split(' ')[1] ?? '')
          .filter((source) => source.startsWith('/dev/loop')),
      ),
    ]
    expect(loops.length, `${where}: level 1 mounts no loop device`).toBeGreaterThan(0)
    for (const loop of loops)
      expect(
        taken.loopDevices.some((line) => line.startsWith(`${loop}:`)),
        `${where}: its loop device ${loop}`,
      ).toBe(true)
  }
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
  tlsEndpoint?: string
  registry?: {mirrors: string[]; insecure: string[]; proxy?: string; noProxy?: string; dns: string[]; caCerts: number}
  budget?: {memoryBytes?: number; cpus?: number; cpuset?: string; pids?: number; pidsUsed?: number; cpuSeconds?: number; oomKills?: number}
}

/** `inception ps --name NAME --json`: the nest's levels, and how long ps took. */
export async function psLevels(name: string): Promise<{levels: PsLevel[]; durationMs: number; stderr: string}> {
  const result = await cli(['ps', '--name', name, '--json'])
  if (result.exitCode !== 0) throw new Error(`inception ps --name ${name} failed (${result.exitCode}): ${result.stderr}`)
  return {levels: (JSON.parse(result.stdout) as Array<{levels: PsLevel[]}>)[0]!.levels, durationMs: result.durationMs, stderr: result.stderr}
}
