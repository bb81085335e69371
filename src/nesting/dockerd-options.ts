import {UsageError} from './errors.js'

/**
 * The dockerd options inception sets itself in every level (image/init/engine.sh, network.sh),
 * or that the rest of the tool depends on. Given again with --dockerd-arg, dockerd takes the
 * user's value (or both), and a promise breaks without a word: `--tlsverify=false` serves an
 * exposed engine to any client while `env` still says DOCKER_TLS_VERIFY=1; `--host=tcp://...`
 * opens a second, unauthenticated socket; `--bip` breaks the port chain while `ps` shows the
 * user's value. So they are refused, each with the inception flag that does the job, if any.
 * `short` is the option's one-letter form.
 */
export const OWNED_DOCKERD_OPTIONS: ReadonlyArray<{option: string; short?: string; instead: string}> = [
  // The engine's sockets: the init's unix socket, and with --expose-daemons its mutual TLS port.
  {option: '--host', short: 'H', instead: 'use --expose-daemons: every level listens with mutual TLS, and `inception env` points a client at it'},
  // The group of every level's sockets is this machine's docker group (sockets.ts).
  {option: '--group', short: 'G', instead: "each level's socket is in this machine's docker group; use --sockets to choose where they are, or none"},
  {option: '--tls', instead: 'use --expose-daemons: it sets up mutual TLS for every level'},
  {option: '--tlsverify', instead: 'use --expose-daemons: it sets up mutual TLS for every level'},
  {option: '--tlscacert', instead: 'use --expose-daemons: it makes and passes the certificates'},
  {option: '--tlscert', instead: 'use --expose-daemons: it makes and passes the certificates'},
  {option: '--tlskey', instead: 'use --expose-daemons: it makes and passes the certificates'},
  // The registry settings reach every level through their own flags (registry-settings.ts), and ps shows them.
  {option: '--registry-mirror', instead: 'use --registry-mirror: it reaches every level, and ps shows it'},
  {option: '--insecure-registry', instead: 'use --insecure-registry: it reaches every level, and ps shows it'},
  {option: '--dns', instead: 'use --dns: it reaches every level and the containers started there'},
  // Each level's bridge and network pool come from --subnet-pool, chosen clear of the others.
  {option: '--bip', instead: "use --subnet-pool: each level's bridge is chosen from it, clear of the other levels and the host"},
  {option: '--fixed-cidr', instead: "use --subnet-pool: each level's bridge is chosen from it"},
  {option: '--bridge', short: 'b', instead: 'the port chain runs over the bridge inception sets up; use --subnet-pool to choose its addresses'},
  {option: '--default-address-pool', instead: "use --subnet-pool: each level's pool for users' networks is carved from it"},
  {option: '--mtu', instead: 'use --mtu: it sets every level, and the networks users create there'},
  // Published ports travel down the levels through each engine's iptables and port bindings.
  {option: '--iptables', instead: 'the port chain (-p, --expose-daemons) needs every level to publish ports'},
  {option: '--ip', instead: 'every level publishes the chained ports on all its addresses; use --bind for the host side'},
  // Where the engine keeps its data and state: the init mounts, seeds and cleans these.
  {option: '--data-root', instead: 'use --data-root volume|tmpfs|loop:SIZE'},
  {option: '--graph', short: 'g', instead: 'use --data-root volume|tmpfs|loop:SIZE'},
  {option: '--storage-driver', short: 's', instead: 'use --storage-driver'},
  {option: '--exec-root', instead: 'inception reaches each level through the state the init keeps there; leave it out'},
  {option: '--pidfile', short: 'p', instead: "the init keeps the engine's pid file itself; leave it out"},
  {option: '--containerd', instead: 'the init starts containerd and hands dockerd its socket; leave it out'},
  // exec and ps find each level's processes at /docker/ID in the cgroup tree.
  {option: '--cgroup-parent', instead: "exec and ps find each level in its parent's cgroups; leave it out"},
  // A file can set every option above.
  {option: '--config-file', instead: 'give each option with its own --dockerd-arg'},
  // dockerd prints and exits: the level would never come up.
  {option: '--version', short: 'v', instead: 'see the Docker of every level with `inception ps`'},
  {option: '--help', short: 'h', instead: 'see `dockerd --help` at a level: inception exec -- dockerd --help'},
]

/** dockerd's one-letter options that take a value: in "-lxyz", the letters after l are l's value. */
const DOCKERD_SHORT_WITH_VALUE = new Set(['b', 'g', 'G', 'H', 'l', 'p', 's'])

/** The owned option ARG sets, if any (see OWNED_DOCKERD_OPTIONS). */
export function ownedDockerdOption(arg: string): (typeof OWNED_DOCKERD_OPTIONS)[number] | undefined {
  if (arg.startsWith('--')) {
    const name = arg.split('=')[0]!
    // --default-network-opt is the user's, but for the MTU key, which --mtu sets.
    if (name === '--default-network-opt' && /^[^=]+=[^=]*=?com\.docker\.network\.driver\.mtu=/.test(arg))
      return OWNED_DOCKERD_OPTIONS.find((o) => o.option === '--mtu')
    // exec-opt is the user's, but for the cgroup driver, which moves every level's cgroups.
    if (name === '--exec-opt' && arg.includes('native.cgroupdriver')) return OWNED_DOCKERD_OPTIONS.find((o) => o.option === '--cgroup-parent')
    return OWNED_DOCKERD_OPTIONS.find((o) => o.option === name)
  }
  // One dash: a cluster of one-letter options ("-D", "-Htcp://...", "-Ds overlay2"), read as dockerd reads it.
  for (const letter of arg.slice(1).split('=')[0]!) {
    const owned = OWNED_DOCKERD_OPTIONS.find((o) => o.short === letter)
    if (owned) return owned
    if (DOCKERD_SHORT_WITH_VALUE.has(letter)) break
  }
  return undefined
}

export function parseDockerdArg(arg: string): string {
  // The init splits the list on spaces: one option per flag, no spaces inside.
  if (!/^--?[a-z0-9][\w.=:,/-]*$/i.test(arg)) {
    throw new UsageError(
      `--dockerd-arg ${JSON.stringify(arg)} is not one dockerd option`,
      'give one option per flag, like --dockerd-arg=--debug or --dockerd-arg=--log-level=warn',
    )
  }
  const owned = ownedDockerdOption(arg)
  if (owned) throw new UsageError(`--dockerd-arg ${arg}: inception sets ${owned.option} in every level itself`, owned.instead)
  return arg
}
