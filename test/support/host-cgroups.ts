import {execa} from 'execa'

/** A command's standard output. A command that fails throws with its stderr: a check must not read nothing and pass. */
export async function output(argv: string[], env: Record<string, string> = {}): Promise<string> {
  const result = await execa(argv[0]!, argv.slice(1), {reject: false, env})
  if (result.exitCode !== 0) throw new Error(`\`${argv.join(' ')}\` failed (${result.exitCode}): ${String(result.stderr).trim()}`)
  return String(result.stdout ?? '')
}

/** A tool's output lines, sorted. A tool that fails fails the snapshot: a check must not read nothing and pass. */
export async function lines(command: string, args: string[]): Promise<string[]> {
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
