import {execa} from 'execa'
import {expect} from 'vitest'
import {existsSync, readFileSync} from 'node:fs'
import {fileURLToPath} from 'node:url'

import {type InitVariable, levelName} from '../../src/nesting/contract.js'
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
 * (`up --name NAME ARGS`), failing the test when `up` fails or when a snapshot taken with the
 * nest up does not show its parts (a snapshot that reads nothing must not pass). Returns the host
 * as it was before.
 */
export async function upFresh(name: string, args: string[]): Promise<HostSnapshot> {
  await cli(['down', '--name', name])
  const before = await snapshot()
  const up = await cli(['up', '--name', name, ...args])
  expect(up.exitCode, up.stderr).toBe(0)
  await expectNestIn(await snapshot(), name)
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

/** A command's standard output. A command that fails throws with its stderr: a check must not read nothing and pass. */
async function output(argv: string[], env: Record<string, string> = {}): Promise<string> {
  const result = await execa(argv[0]!, argv.slice(1), {reject: false, env})
  if (result.exitCode !== 0) throw new Error(`\`${argv.join(' ')}\` failed (${result.exitCode}): ${String(result.stderr).trim()}`)
  return String(result.stdout ?? '')
}

/** A tool's output lines, sorted. A tool that fails fails the snapshot: a check must not read nothing and pass. */
async function lines(command: string, args: string[]): Promise<string[]> {
  return (await output([command, ...args]).catch((error: unknown) => Promise.reject(new Error(`snapshot: ${(error as Error).message}`))))
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .sort()
}

const CGROUP_ROOT = '/sys/fs/cgroup'

/**
 * Where cgroups are read: this machine (no container), or inside a container of this machine's
 * engine, for an engine that runs in one and sees its own cgroup namespace there.
 */
export interface CgroupPlace {
  container?: string
}

/** A command run at a place: here, or by `docker exec` in the place's container. Fails when the command fails. */
async function runAt(place: CgroupPlace, argv: string[]): Promise<string> {
  return output(place.container ? ['docker', 'exec', place.container, ...argv] : argv)
}

/** The cgroup file systems at the root: v2 (one cgroup2 on the root itself), or v1 (one per hierarchy below it, a cgroup2 among them on a hybrid host). */
export interface CgroupMounts {
  version: 1 | 2
  /** Each hierarchy's mount point; on v2, the root alone. */
  hierarchies: string[]
}

/**
 * Reads the cgroup layout from a /proc/self/mountinfo text. Fails on a layout it does not know
 * (no cgroup file system at the root or below it): a leak check that looked in the wrong place
 * would read nothing there and pass.
 */
export function cgroupMountsFrom(mountinfo: string, root = CGROUP_ROOT): CgroupMounts {
  const mounts = mountinfo
    .split('\n')
    .filter((line) => line.includes(' - '))
    .map((line) => {
      const [fields, filesystem] = line.split(' - ')
      return {point: fields!.split(' ')[4]!, type: filesystem!.split(' ')[0]!}
    })
  // Mounts are listed in the order they were made: the root's last mount hides what came before it.
  const rootIndex = mounts.map((m) => m.point).lastIndexOf(root)
  const atRoot = mounts[rootIndex]
  if (atRoot?.type === 'cgroup2') return {version: 2, hierarchies: [root]}
  const below = new Map<string, string>()
  for (const mount of mounts.slice(rootIndex + 1)) {
    const name = mount.point.slice(root.length + 1)
    if (mount.point.startsWith(`${root}/`) && name.length > 0 && !name.includes('/')) below.set(mount.point, mount.type)
  }
  const hierarchies = [...below].filter(([, type]) => type === 'cgroup' || type === 'cgroup2').map(([point]) => point)
  if (atRoot && [...below.values()].includes('cgroup')) return {version: 1, hierarchies: hierarchies.sort()}
  throw new Error(
    `no cgroup v1 or v2 layout at ${root} (${atRoot ? `a ${atRoot.type} there` : 'nothing mounted there'}, ` +
      `below it: ${[...below].map(([point, type]) => `${point} ${type}`).join(', ') || 'nothing'}); the leak check knows cgroup v1, v2 and hybrid layouts`,
  )
}

/** How an engine places its containers' cgroups, from its own info. */
export interface EngineCgroups {
  engine: 'docker' | 'podman'
  version: 1 | 2
  driver: 'cgroupfs' | 'systemd'
}

/** Asks the engine `env` points at (this machine's by default) how it places cgroups; fails on an answer it does not know. */
export async function engineCgroups(env: Record<string, string> = {}): Promise<EngineCgroups> {
  const components = await output(['docker', 'version', '--format', '{{range .Server.Components}}{{.Name}};{{end}}'], env)
  const [version, driver] = (await output(['docker', 'info', '--format', '{{.CgroupVersion}} {{.CgroupDriver}}'], env)).trim().split(' ')
  const engine = components.includes('Podman Engine') ? 'podman' : components.split(';').includes('Engine') ? 'docker' : undefined
  if (!engine || (version !== '1' && version !== '2') || (driver !== 'cgroupfs' && driver !== 'systemd'))
    throw new Error(
      `engine at ${env.DOCKER_HOST ?? 'the default address'}: unknown cgroup placement (components "${components}", cgroup v${version}, driver ${driver})`,
    )
  return {engine, version: Number(version) as 1 | 2, driver}
}

/**
 * The folder (in each hierarchy) an engine puts its containers' cgroups in, and which of its
 * entries are theirs: docker/ID with the cgroupfs driver, system.slice/docker-ID.scope with
 * systemd's; Podman's libpod_parent/libpod-ID (and its conmon) with cgroupfs,
 * machine.slice/libpod-ID.scope (and libpod-conmon-ID.scope) with systemd.
 */
function containerParent({engine, driver}: EngineCgroups): {parent: string; ours: (entry: string) => boolean; of: (id: string) => string} {
  if (engine === 'docker' && driver === 'cgroupfs') return {parent: 'docker', ours: () => true, of: (id) => id}
  if (engine === 'docker') return {parent: 'system.slice', ours: (entry) => entry.startsWith('docker-'), of: (id) => `docker-${id}.scope`}
  if (driver === 'cgroupfs') return {parent: 'libpod_parent', ours: () => true, of: (id) => `libpod-${id}`}
  return {parent: 'machine.slice', ours: (entry) => entry.startsWith('libpod-'), of: (id) => `libpod-${id}.scope`}
}

/** Lists a parent folder's subfolders in each hierarchy; every failure is the script's failure (no hierarchy, find failing). */
const LIST_CGROUPS = `set -eu
parent=$1
shift
for hierarchy do
  [ -d "$hierarchy" ] || { echo "no cgroup hierarchy at $hierarchy" >&2; exit 1; }
  if [ -d "$hierarchy/$parent" ]; then find "$hierarchy/$parent" -mindepth 1 -maxdepth 1 -type d; fi
done`

/** The layout at a place, checked against what each engine reports. */
async function mountsFor(place: CgroupPlace, engines: EngineCgroups[]): Promise<CgroupMounts> {
  const mounts = cgroupMountsFrom(await runAt(place, ['cat', '/proc/self/mountinfo']))
  const where = place.container ? `container ${place.container}` : 'this machine'
  for (const engine of engines) {
    if (engine.version !== mounts.version)
      throw new Error(`the ${engine.engine} engine reports cgroup v${engine.version}, but ${where} has v${mounts.version} at ${CGROUP_ROOT}`)
  }
  return mounts
}

const relative = (path: string) => path.slice(CGROUP_ROOT.length + 1)

/** Every cgroup the engines gave containers, on the layout the place really has, as paths below /sys/fs/cgroup. */
export async function readCgroups(place: CgroupPlace, engines: EngineCgroups[]): Promise<string[]> {
  const mounts = await mountsFor(place, engines)
  const found: string[] = []
  for (const engine of engines) {
    const {parent, ours} = containerParent(engine)
    const listed = await runAt(place, ['sh', '-c', LIST_CGROUPS, 'sh', parent, ...mounts.hierarchies])
    found.push(
      ...listed
        .split('\n')
        .filter((path) => path.length > 0 && ours(path.slice(path.lastIndexOf('/') + 1)))
        .map((path) => relative(path)),
    )
  }
  return [...new Set(found)].sort()
}

/** The cgroups (below /sys/fs/cgroup) a running container of `engine` has at `place`: one in each hierarchy. */
export async function containerCgroups(place: CgroupPlace, engine: EngineCgroups, id: string): Promise<string[]> {
  const mounts = await mountsFor(place, [engine])
  const {parent, of} = containerParent(engine)
  return mounts.hierarchies.map((hierarchy) => relative(`${hierarchy}/${parent}/${of(id)}`)).sort()
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
  }
  // A host with a running engine always has these: an empty one means the snapshot saw nothing.
  // What a nest adds is checked by expectNestIn, on a snapshot taken while it is up.
  for (const key of ['bridges', 'natRules', 'filterRules', 'mounts', 'networks'] as const) {
    if (taken[key].length === 0) throw new Error(`snapshot: read no ${key} from this host; the leak check would compare nothing`)
  }
  return taken
}

/** What `docker inspect` says of a level 1 container, the fields the presence check needs. */
interface LevelOneInspect {
  Id: string
  State: {Pid: number}
  HostConfig: {NetworkMode: string}
  Config: {Env: string[] | null}
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
export async function expectNestIn(taken: HostSnapshot, name: string): Promise<void> {
  const levelOne = await inspectLevelOne(name)
  const where = `a snapshot taken while nest "${name}" is up`
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

/** One event from an engine's event stream (`docker events --format '{{json .}}'`). */
export interface EngineEvent {
  Type: string
  Action: string
  Actor: {ID: string; Attributes?: Record<string, string>}
  timeNano: number
}

/** Actions that only read a container: a file read through the archive API, a command run in it. They create and remove nothing on the engine. */
const READ_ACTIONS = [/^archive-path$/, /^exec_(create|start|die)\b/]

/** The events that change something on the engine: every one but reads. */
export function engineChanges(events: EngineEvent[]): EngineEvent[] {
  return events.filter((event) => !(event.Type === 'container' && READ_ACTIONS.some((read) => read.test(event.Action))))
}

/** An event in one line, for a failure message. */
export function describeEvent(event: EngineEvent): string {
  return `${event.Type} ${event.Action} ${event.Actor.Attributes?.name ?? event.Actor.ID}`
}

/**
 * Runs `fn` and returns, with its result, every container, volume, network and image event the
 * engine `env` points at (this machine's by default) recorded while it ran: the engine's own
 * account of what was created and removed, which end-state snapshots cannot give (a create
 * followed by a removal leaves them equal). Fails when the stream cannot be read: before `fn`, a
 * canary volume is created and removed, and a stream that does not show both is not trusted.
 */
export async function engineEventsDuring<T>(fn: () => Promise<T>, env: Record<string, string> = {}): Promise<{result: T; events: EngineEvent[]}> {
  const seconds = (ms: number) => (ms / 1000).toFixed(3)
  const canary = `itest-events-canary-${process.pid}-${Date.now()}`
  const from = Date.now() - 1
  await output(['docker', 'volume', 'create', canary], env)
  await output(['docker', 'volume', 'rm', canary], env)
  const since = Date.now()
  const result = await fn()
  // Whole milliseconds: the end rounded up, so that nothing of the last one is cut off.
  const until = Date.now() + 1
  const filters = ['container', 'volume', 'network', 'image'].flatMap((type) => ['--filter', `type=${type}`])
  const stream = await output(['docker', 'events', '--since', seconds(from), '--until', seconds(until), '--format', '{{json .}}', ...filters], env)
  const all = stream
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      try {
        return JSON.parse(line) as EngineEvent
      } catch {
        throw new Error(`engine events: not an event: ${line}`)
      }
    })
  const isCanary = (event: EngineEvent) => event.Type === 'volume' && event.Actor.ID === canary
  const canaryActions = all.filter(isCanary).map((event) => event.Action)
  if (!canaryActions.includes('create') || !canaryActions.includes('destroy'))
    throw new Error(
      `engine events: the stream did not show the canary volume ${canary} made and removed (saw ${all.length} events); it cannot be trusted to show anything`,
    )
  return {result, events: all.filter((event) => !isCanary(event) && event.timeNano >= since * 1e6)}
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
