/**
 * The level contract: every fact that the CLI and the in-image init must agree on, in one place.
 *
 * The CLI renders every level's container (render.ts) and starts level 1; each level's init
 * (image/init.sh) boots its own engine and starts the next level from the plan, verbatim. Both
 * sides name the same environment variables, board files, labels, container names, the plan's
 * folder and privilege options. This module owns them. The init reads the shell half,
 * image/contract.sh, which `npm run contract` writes from `shellContract()` below;
 * test/unit/contract.test.ts fails when that file is stale, when the CLI sets a variable the
 * init does not read (or the reverse), or when the init spells one of these facts out itself.
 */

/** Where a level keeps its own state; the board and the TLS material live under it. */
export const STATE_DIR = '/run/inception'

/**
 * The nest's status board: a directory that level 1 owns and every level bind-mounts into the
 * next. One exec into level 1 reads the whole nest, however deep.
 */
export const BOARD_DIR = `${STATE_DIR}/board`

/** The daemons' TLS material (CA, server certificate and key): put into level 1 by the CLI, passed down read-only. */
export const TLS_DIR = `${STATE_DIR}/tls`

/**
 * The plan: `level-K.args` for every level K below the first, the `docker run` arguments of
 * level K's container one per line, rendered by the CLI (render.ts), given to level 1 in its
 * environment (INCEPTION_PLAN), written here by its init and passed down read-only. Level K-1's
 * init runs its file as it is, but for one marker (CAP_DROP_MARKER). No level composes a
 * container of its own.
 */
export const PLAN_DIR = `${STATE_DIR}/plan`
const PLAN_FILE_PREFIX = 'level-'
const PLAN_FILE_SUFFIX = '.args'
export const planFile = (level: number) => `${PLAN_FILE_PREFIX}${level}${PLAN_FILE_SUFFIX}`

/**
 * The nest's level sockets (sockets.ts): a folder of the host that level 1 bind-mounts here and
 * every level passes down, where level K's dockerd also listens, on level-K.sock.
 */
export const SOCKET_DIR = `${STATE_DIR}/sockets`
/** On the CLI's machine, where root's nests keep that folder: ROOT_SOCKET_BASE/NEST (another user's: $XDG_RUNTIME_DIR/inception/NEST). */
export const ROOT_SOCKET_BASE = '/run/inception'
export const levelSocketFile = (level: number) => `level-${level}.sock`

/** A nest with budgets: level 1's lxcfs, mounted here and passed down; each level gets these of its files over /proc (budgets.ts). */
export const LXCFS_DIR = '/var/lib/lxcfs'
export const LXCFS_PROC_FILES = ['meminfo', 'cpuinfo', 'stat', 'uptime', 'swaps', 'diskstats'] as const

/**
 * A line of the plan that the parent's init replaces with a `--cap-drop NAME` pair for each
 * capability dockerd 20.10 knows and its own bounding set lacks (see nestedPrivilege): the one
 * part of a level's container only its parent can know, at run time.
 */
export const CAP_DROP_MARKER = '@cap-drop-what-the-parent-lacks'

/** A level's engine data directory, where its data root is mounted (dockerd's default). */
export const LEVEL_DATA_DIR = '/var/lib/docker'

/**
 * Level K's data root below level 1: this folder of its parent's data directory, K appended,
 * bind-mounted. The parent fills it with its own images before the level starts.
 */
export const CHILD_DATA_ROOT_PREFIX = 'inception-level-'

/** The level image as every level's engine imports it: this repository, tagged with the CLI's version. */
export const INNER_IMAGE_REPOSITORY = 'inception-level'

/** The files on the board. */
export const BOARD_FILE = {
  /** Level K's state, one line: "STATE [detail]". */
  statePrefix: 'level-',
  /** Level K's details once ready: key=value lines (INFO_KEYS). */
  infoPrefix: 'info-',
  /** What the demo page shows of the host: name= and engine= lines. */
  host: 'host',
  /** Present while the demo's dream collapses (the page reads it). */
  collapsing: 'collapsing',
  /**
   * What the demo page was last served, written by its CGI: "COLLAPSING GOING" (1 or 0, then how
   * many levels it showed stopping). The collapse waits on it, so the page shows every step even
   * when the machine is slow.
   */
  pageSeen: 'page-seen',
  /** Where `inception load` spools an image that several levels load (a folder). */
  spool: 'spool',
  /** Level K's OOM kills at its memory budget, one number, written by its counter (cgroup v1; v2 keeps its own count). */
  oomPrefix: 'oom-',
  /** The iptables backend level 1 chose ("legacy" or "nft"): every level shares its kernel, so every level follows it. */
  iptables: 'iptables',
} as const

export const boardStateFile = (level: number) => `${BOARD_DIR}/${BOARD_FILE.statePrefix}${level}`

/** The states a level reports on the board; `absent` is what a reader sees when there is no line. */
export const LEVEL_STATES = ['starting', 'ready', 'failed', 'stopping'] as const
export type LevelState = (typeof LEVEL_STATES)[number] | 'absent'

/** The keys of a level's info lines on the board, as its init writes them once the level is ready. */
// mirrors, insecure, proxy, noproxy, dns, cacerts: the registry settings as the level's engine has them, when the nest has any.
// prettier-ignore
export const INFO_KEYS = [
  'id', 'hostname', 'dockerd', 'storage', 'privilege', 'bridge', 'mtu', 'iptables', 'capeff',
  'mirrors', 'insecure', 'proxy', 'noproxy', 'dns', 'cacerts',
] as const
export type InfoKey = (typeof INFO_KEYS)[number]

/**
 * A nest's state lives on its containers as labels: `ps`, `exec` and `down` find a nest by them.
 * There is no state file to lose or corrupt. Levels below the first carry nest, level and version.
 */
export const LABEL = {
  nest: 'io.inception.nest',
  level: 'io.inception.level',
  depth: 'io.inception.depth',
  version: 'io.inception.version',
  privilege: 'io.inception.privilege',
  storageDriver: 'io.inception.storage-driver',
  dataRoot: 'io.inception.data-root',
  subnets: 'io.inception.subnets',
  /** Each level's pool for the networks users create there. */
  pools: 'io.inception.pools',
  /** The host network level 1 joined (--network), when not the default bridge. */
  network: 'io.inception.network',
  /** The MTU asked for every level (--mtu); absent: each level takes its uplink's. */
  mtu: 'io.inception.mtu',
  ports: 'io.inception.ports',
  /** The host address the published ports are bound to. */
  bind: 'io.inception.bind',
  /** The registry settings every level's engine got (settings.ts): inherited from the engine, or given. */
  registryMirrors: 'io.inception.registry-mirrors',
  insecureRegistries: 'io.inception.insecure-registries',
  proxy: 'io.inception.proxy',
  noProxy: 'io.inception.no-proxy',
  dns: 'io.inception.dns',
  caCerts: 'io.inception.ca-certs',
  /** The folder of this machine that holds each level's socket (level-K.sock), when the nest has them. */
  sockets: 'io.inception.sockets',
  /** "on" when every level's engine listens with mutual TLS on a port chained to the host. */
  daemons: 'io.inception.daemons',
  /** The Debian suite of the level image, which decides the Docker every level runs. */
  suite: 'io.inception.suite',
  /** On the short-lived container that serialises subnet choice between concurrent `up`s. */
  lock: 'io.inception.lock',
  /** Who holds that lock: "pid=N start=T boot=ID pidns=NS host=NAME" (subnet-lock.ts), so a dead holder's lock is taken over. */
  lockHolder: 'io.inception.lock-holder',
  /** On the throwaway containers that probe what the engine allows. */
  probe: 'io.inception.probe',
  /** On the level image: the hash of the image/ folder it was built from. */
  context: 'io.inception.context',
} as const

export type Labels = Record<string, string>

const LEVEL_NAME_INFIX = '-l'

/** The name of level K's container in the engine of level K-1 (and of level 1's volume). */
export function levelName(nest: string, level: number): string {
  return `${nest}${LEVEL_NAME_INFIX}${level}`
}

/**
 * Level K's engine listens on DAEMON_INNER_PORT_BASE + K inside the nest (with
 * --expose-daemons), chained to the host like a -p port. Far from common service ports.
 */
export const DAEMON_INNER_PORT_BASE = 23_750

export function daemonInnerPort(level: number): number {
  return DAEMON_INNER_PORT_BASE + level
}

/**
 * Security options beyond capabilities: seccomp/apparmor unconfined, systempaths unconfined (no
 * masked or read-only /proc and /sys paths), devices=all (every device through the device cgroup).
 */
export const SECURITY_OPTIONS = ['seccomp=unconfined', 'apparmor=unconfined', 'systempaths=unconfined', 'devices=all'] as const
export type SecurityOption = (typeof SECURITY_OPTIONS)[number]

/** The caps mode grants every capability the host allows, plus all of these. */
export const CAPS_SECURITY: readonly SecurityOption[] = SECURITY_OPTIONS

/** Capability names by bit number (linux/capability.h). */
// prettier-ignore
export const CAPABILITY_NAMES = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
  'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER',
  'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE',
  'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP',
  'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF',
  'CHECKPOINT_RESTORE',
] as const

/**
 * The names dockerd 20.10 knows (bits 0 to 37). It rejects the newer ones (PERFMON, BPF,
 * CHECKPOINT_RESTORE) and never grants them with "--cap-add ALL" either, so only these can be
 * worth dropping where the bounding set lacks them.
 */
export const DOCKER_20_CAPABILITIES = CAPABILITY_NAMES.slice(0, 38)

/**
 * The environment of a level's init, by variable: who sets it and what it holds. `plan`: the CLI
 * renders it for every level (render.ts), level 1's on its container and the others' in the
 * plan; `build`: the CLI sets it only on the throwaway level that makes the image seed;
 * `internal`: the init's own; `root`: a root a test may move (the real default otherwise).
 * What a level decides for itself at run time is not here: its storage driver when the one asked
 * for does not work on its data root, its MTU when none is asked for (its uplink's), whether
 * ip6tables works, and (dockerd 20.10) the capabilities its bounding set lacks (CAP_DROP_MARKER).
 */
export const INIT_VARIABLES = {
  INCEPTION_NEST: {from: 'plan', holds: 'the nest name'},
  INCEPTION_LEVEL: {from: 'plan', holds: 'this level, from 1'},
  INCEPTION_DEPTH: {from: 'plan', holds: 'how many levels'},
  INCEPTION_VERSION: {from: 'plan', holds: "the CLI's version: the tag of the level image every engine imports"},
  INCEPTION_PRIVILEGE_USED: {from: 'plan', holds: 'the privilege this level runs with, for `ps`'},
  INCEPTION_STORAGE_DRIVER: {from: 'plan', holds: 'the storage driver asked for (the level falls back when it does not work)'},
  INCEPTION_DATA_ROOT: {from: 'plan', holds: "this level's data root: volume, tmpfs or loop:BYTES (its own file's size)"},
  INCEPTION_MTU: {from: 'plan', holds: "this level's MTU; empty: it takes its uplink's"},
  INCEPTION_HTTP_PROXY: {from: 'plan', holds: "the HTTP(S) proxy of this level's engine and of the containers started there; empty: none"},
  INCEPTION_NO_PROXY: {from: 'plan', holds: 'what is reached without the proxy, comma-separated; empty: nothing'},
  INCEPTION_CA_CERTS: {from: 'plan', holds: "CA certificates this level's engine trusts besides the system's: PEM, base64; empty: none"},
  INCEPTION_PROC_VIEW: {from: 'plan', holds: 'serve: level 1 of a nest with budgets runs lxcfs and shows its own /proc files through it; empty elsewhere'},
  INCEPTION_OOM_COUNT: {from: 'plan', holds: '1: this level has a memory budget, and counts the OOM kills at it on the board; empty: none'},
  INCEPTION_READY_TIMEOUT: {from: 'plan', holds: "seconds this level's engine has to answer"},
  INCEPTION_DOCKERD_OPTIONS: {from: 'plan', holds: "this level's dockerd options, space-separated: bridge, pool, TLS listener, the user's"},
  INCEPTION_PLAN: {from: 'plan', holds: "level 1's only: the plan's files for levels 2..N in order, each followed by an empty line; empty elsewhere"},
  INCEPTION_MAKE_SEED: {from: 'build', holds: '1: a throwaway level of `inception build` that writes the image seed and ends'},
  INCEPTION_DESCRIPTORS_CLOSED: {from: 'internal', holds: 'set while the init re-executes itself with inherited descriptors closed'},
  INCEPTION_INIT_SOURCED: {from: 'root', holds: '1: the init only defines its steps (tests run them one by one)'},
  INCEPTION_LIB: {from: 'root', holds: 'where the contract and the init steps are (default /usr/local/lib/inception)'},
  INCEPTION_CGROUP_ROOT: {from: 'root', holds: 'the cgroup file system (default /sys/fs/cgroup)'},
  INCEPTION_PROC: {from: 'root', holds: 'the proc file system: mount table, capabilities (default /proc)'},
  INCEPTION_DATA_DIR: {from: 'root', holds: "the engine's data directory, where the data root is mounted (default LEVEL_DATA_DIR)"},
  INCEPTION_SYS_NET: {from: 'root', holds: 'network interfaces (default /sys/class/net)'},
} as const satisfies Record<string, {from: 'plan' | 'build' | 'internal' | 'root'; holds: string}>

export type InitVariable = keyof typeof INIT_VARIABLES
/** The variables the CLI renders for every level. */
export type PlanVariable = {[K in InitVariable]: (typeof INIT_VARIABLES)[K]['from'] extends 'plan' ? K : never}[InitVariable]

/**
 * Set on every command `inception exec` runs, to a token of that one exec, and inherited by
 * whatever it starts: how a command that timed out or was interrupted is found at its level, and
 * ended there, from level 1 (whose PID namespace holds every level's processes). Not the init's.
 */
export const EXEC_MARK_VARIABLE = 'INCEPTION_EXEC'

/** Where the init's files are in the level image (INCEPTION_LIB), inside /usr, which every level passes down. */
export const IMAGE_LIB_DIR = '/usr/local/lib/inception'

/**
 * The image seed: a level's first image store (the level image and busybox, imported), made by
 * `inception build` in a throwaway level, kept in the image as one tar per storage driver in
 * this folder of IMAGE_LIB_DIR. A level unpacks it before its engine starts instead of importing.
 */
export const SEED_DIR_NAME = 'data-root-seed'
export const SEED_DIR = `${IMAGE_LIB_DIR}/${SEED_DIR_NAME}`

/** The shell half of the contract: plain assignments the init sources, and the CLI's scripts for level 1 begin with (level-scripts.ts). */
export function shellContract(): string {
  const values: Array<[string, string | number, string]> = [
    ['STATE_DIR', STATE_DIR, "a level's own state"],
    ['BOARD_DIR', BOARD_DIR, "the nest's status board, shared by every level"],
    ['TLS_DIR', TLS_DIR, "the daemons' TLS material, passed down read-only"],
    ['PLAN_DIR', PLAN_DIR, "level K's container, one `docker run` argument a line, is PLAN_DIR/level-K.args"],
    ['PLAN_FILE_PREFIX', PLAN_FILE_PREFIX, "level K's file in the plan: <prefix>K<suffix>"],
    ['PLAN_FILE_SUFFIX', PLAN_FILE_SUFFIX, ''],
    ['CAP_DROP_MARKER', CAP_DROP_MARKER, 'the plan line the parent replaces with --cap-drop pairs (dockerd 20.10)'],
    ['CHILD_DATA_ROOT_PREFIX', CHILD_DATA_ROOT_PREFIX, "level K's data root below level 1: its parent's data directory/<prefix>K"],
    ['INNER_IMAGE_REPOSITORY', INNER_IMAGE_REPOSITORY, "the level image in every level's engine: <repository>:INCEPTION_VERSION"],
    ['BOARD_STATE_PREFIX', BOARD_FILE.statePrefix, "level K's state line is BOARD_DIR/BOARD_STATE_PREFIX<K>"],
    ['BOARD_INFO_PREFIX', BOARD_FILE.infoPrefix, "level K's key=value details"],
    ['BOARD_HOST', BOARD_FILE.host, 'what the demo page shows of the host'],
    ['BOARD_COLLAPSING', BOARD_FILE.collapsing, "present while the demo's dream collapses"],
    ['BOARD_PAGE_SEEN', BOARD_FILE.pageSeen, 'what the demo page was last served: "COLLAPSING GOING"'],
    ['BOARD_OOM_PREFIX', BOARD_FILE.oomPrefix, "level K's OOM kills at its memory budget"],
    ['LXCFS_DIR', LXCFS_DIR, 'where level 1 of a nest with budgets mounts lxcfs, passed down to every level'],
    ['LXCFS_PROC_FILES', LXCFS_PROC_FILES.join(' '), 'the /proc files lxcfs shows each level as its budget'],
    ['BOARD_IPTABLES', BOARD_FILE.iptables, "level 1's iptables backend, which every level follows"],
    ['LABEL_NEST', LABEL.nest, 'labels on every level container'],
    ['LABEL_LEVEL', LABEL.level, ''],
    ['LABEL_VERSION', LABEL.version, ''],
    ['LEVEL_NAME_INFIX', LEVEL_NAME_INFIX, "level K's container: NEST<infix>K"],
    ['EXEC_MARK_VARIABLE', EXEC_MARK_VARIABLE, "the variable that marks an exec's processes, down every hop"],
    ['SEED_DIR_NAME', SEED_DIR_NAME, "the image seed's folder in INCEPTION_LIB: one tar per storage driver"],
    ['DOCKER_20_CAPABILITIES', DOCKER_20_CAPABILITIES.join(' '), 'the capability names dockerd 20.10 knows, by bit'],
  ]
  const lines = [
    '# The level contract, shell half. Generated from src/nesting/contract.ts by `npm run contract`:',
    '# do not edit (test/unit/contract.test.ts fails when this file and the module differ).',
    "# shellcheck shell=sh disable=SC2034 # sourced by the init, and put before the CLI's scripts for level 1 (image/cli/): each uses what it needs",
  ]
  for (const [name, value, comment] of values) {
    if (comment) lines.push(`# ${comment}`)
    lines.push(`${name}='${String(value)}'`)
  }
  return `${lines.join('\n')}\n`
}
