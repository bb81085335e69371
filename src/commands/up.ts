import {Flags} from '@oclif/core'

import {InceptionCommand} from '../base-command.js'
import {bindFlag, depthFlag, hostPortFlag, imageFlag, networkFlag, privilegeFlag, settingFlags, subnetPoolFlag, suiteFlag, timeoutFlag} from '../flags.js'
import {isThisMachine} from '../nesting/endpoint.js'
import {Nests, type NestStatus} from '../nesting/nest.js'
import {bindWarning, checkBindAddress, DEFAULT_MAX_DEPTH, DEFAULT_NEST, DEFAULT_READY_TIMEOUT_SECONDS, parseUpRequest} from '../nesting/request.js'
import {hostInterfaceAddresses} from '../nesting/subnets.js'
import {upWithProgress} from '../up-driver.js'

export default class Up extends InceptionCommand {
  static override summary = 'Start a nest: level 1 on this engine, each level starting the next'
  static override examples = [
    '<%= config.bin %> up --depth 4',
    '<%= config.bin %> --depth 4 -p 8080:80',
    '<%= config.bin %> up --name ci --depth 2 --storage-driver vfs --data-root tmpfs',
  ]

  static override enableJsonFlag = true

  static override flags = {
    depth: depthFlag({description: 'how many levels', default: 1}),
    'max-depth': Flags.integer({description: 'refuse deeper nests than this', helpValue: '<levels>', min: 1, default: DEFAULT_MAX_DEPTH}),
    privilege: privilegeFlag({description: 'privilege mode'}),
    ...settingFlags(),
    bind: bindFlag({description: 'host address for published ports'}),
    'subnet-pool': subnetPoolFlag({description: 'pool of /24 bridge subnets, one per level'}),
    timeout: timeoutFlag({description: "seconds each level's engine has to answer", default: DEFAULT_READY_TIMEOUT_SECONDS}),
    suite: suiteFlag({description: "Debian suite of the level image, which decides every level's Docker"}),
    image: imageFlag({description: 'level image (default: the one `inception build --suite SUITE` makes)'}),
    'expose-daemons': Flags.boolean({
      description: "make every level's engine reachable from this machine over mutual TLS (see `inception env`)",
      default: false,
    }),
    'daemon-ports': hostPortFlag({description: "host port of level 1's engine, level K's is this + K - 1 (default: free ports); implies --expose-daemons"}),
    contexts: Flags.boolean({description: 'write a docker context for each level (docker --context inception-NAME-lK)', default: true, allowNo: true}),
    network: networkFlag({description: "a network of this engine for level 1 to join instead of the default bridge (e.g. a compose project's)"}),
  }

  async run(): Promise<NestStatus> {
    const {flags} = await this.parse(Up)
    // Each flag was parsed on its own; the request checks them together before the engine is touched: bad input creates nothing.
    const request = parseUpRequest({
      name: flags.name,
      depth: flags.depth,
      maxDepth: flags['max-depth'],
      privilege: flags.privilege,
      storageDriver: flags['storage-driver'],
      dataRoot: flags['data-root'],
      ports: flags.publish,
      bind: flags.bind,
      subnetPool: flags['subnet-pool'],
      timeoutSeconds: flags.timeout,
      suite: flags.suite,
      image: flags.image,
      dockerdArgs: flags['dockerd-arg'],
      exposeDaemons: flags['expose-daemons'],
      daemonPortBase: flags['daemon-ports'],
      mtu: flags.mtu,
      network: flags.network,
      sockets: flags.sockets,
      contexts: flags.contexts,
      registry: {
        mirrors: flags['registry-mirror'],
        insecure: flags['insecure-registry'],
        proxy: flags.proxy,
        noProxy: flags['no-proxy'],
        dns: flags.dns,
        caCerts: flags['ca-cert'],
        inherit: flags.inherit,
      },
      budgets: {memory: flags.memory, cpus: flags.cpus, pids: flags.pids},
    })
    const engine = await this.engine()
    // A local engine's host is this machine: an address it does not have is refused here, before
    // anything is created (a remote engine's refusal is translated when level 1 starts).
    if (isThisMachine(engine.address)) checkBindAddress(request.bind, await hostInterfaceAddresses())
    const warning = bindWarning(request.bind)
    if (warning) this.logToStderr(warning)
    const nests = new Nests(engine)
    const status = await upWithProgress(nests, request, {quiet: this.jsonEnabled(), log: (line) => this.log(line)})
    this.log(`nest "${status.name}" is up, ${status.depth} level${status.depth > 1 ? 's' : ''} deep`)
    for (const port of status.ports) this.log(`  published ${port}`)
    const innermost = status.levels.at(-1)?.endpoint
    if (innermost?.startsWith('unix://')) this.log(`  level ${status.depth}'s engine: docker -H ${innermost} ps`)
    if (innermost) this.log(`  point clients at level K: eval "$(inception env${status.name === DEFAULT_NEST ? '' : ` --name ${status.name}`} --level K)"`)
    this.log(`  reach a level with: inception exec${status.name === DEFAULT_NEST ? '' : ` --name ${status.name}`} --level ${status.depth} -- docker ps`)
    return status
  }
}
