import {Flags} from '@oclif/core'

import {InceptionCommand} from '../base-command.js'
import type {NestStatus} from '../nesting/nest.js'
import {DEFAULT_MAX_DEPTH, parseUpRequest} from '../nesting/request.js'
import {STORAGE_DRIVERS} from '../nesting/storage.js'
import {PRIVILEGE_REQUESTS} from '../nesting/privilege.js'
import {DEFAULT_SUBNET_POOL} from '../nesting/subnets.js'
import {DEFAULT_SUITE, SUITES} from '../nesting/suites.js'
import {upWithProgress} from '../progress.js'

export default class Up extends InceptionCommand {
  static override summary = 'Start a nest: level 1 on this engine, each level starting the next'
  static override examples = [
    '<%= config.bin %> up --depth 4',
    '<%= config.bin %> --depth 4 -p 8080:80',
    '<%= config.bin %> up --name ci --depth 2 --storage-driver vfs --data-root tmpfs',
  ]

  static override enableJsonFlag = true

  static override flags = {
    depth: Flags.string({char: 'd', description: 'how many levels', default: '1'}),
    'max-depth': Flags.string({description: 'refuse deeper nests than this', default: String(DEFAULT_MAX_DEPTH)}),
    privilege: Flags.string({description: `privilege mode: ${PRIVILEGE_REQUESTS.join(', ')}`, default: 'auto'}),
    'storage-driver': Flags.string({description: `each level's storage driver: ${STORAGE_DRIVERS.join(', ')}`, default: 'overlay2'}),
    'data-root': Flags.string({description: "where each level's /var/lib/docker lives: volume, tmpfs, loop:SIZE", default: 'volume'}),
    publish: Flags.string({char: 'p', description: 'HOST:INNER[@LEVEL]: publish INNER of the innermost level (or LEVEL) on the host', multiple: true}),
    bind: Flags.string({description: 'host address for published ports', default: '127.0.0.1'}),
    'subnet-pool': Flags.string({description: 'pool of /24 bridge subnets, one per level', default: DEFAULT_SUBNET_POOL}),
    timeout: Flags.string({description: "seconds each level's engine has to answer", default: '60'}),
    suite: Flags.string({description: `Debian suite of the level image, which decides every level's Docker: ${SUITES.join(', ')}`, default: DEFAULT_SUITE}),
    image: Flags.string({description: 'level image (default: the one `inception build --suite SUITE` makes)'}),
    'expose-daemons': Flags.boolean({description: "make every level's engine reachable from this machine over mutual TLS (see `inception env`)", default: false}),
    'daemon-ports': Flags.string({description: "host port of level 1's engine, level K's is this + K - 1 (default: free ports); implies --expose-daemons"}),
    mtu: Flags.string({description: "MTU of every level's networks (default: each level takes its uplink's, so the host network's goes all the way down)"}),
    network: Flags.string({description: "a network of this engine for level 1 to join instead of the default bridge (e.g. a compose project's)"}),
    'dockerd-arg': Flags.string({description: "an extra option for every level's dockerd, e.g. --dockerd-arg=--debug; repeatable", multiple: true}),
  }

  async run(): Promise<NestStatus> {
    const {flags} = await this.parse(Up)
    // Every flag is checked before the engine is touched: bad input creates nothing.
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
      timeout: flags.timeout,
      suite: flags.suite,
      image: flags.image,
      dockerdArgs: flags['dockerd-arg'],
      exposeDaemons: flags['expose-daemons'],
      daemonPorts: flags['daemon-ports'],
      mtu: flags.mtu,
      network: flags.network,
    })
    const nests = await this.nests()
    const status = await upWithProgress(nests, request, {quiet: this.jsonEnabled(), log: (line) => this.log(line)})
    this.log(`nest "${status.name}" is up, ${status.depth} level${status.depth > 1 ? 's' : ''} deep`)
    for (const port of status.ports) this.log(`  published ${port}`)
    if (status.levels.some((l) => l.endpoint)) this.log(`  engines: eval "$(inception env${status.name === 'inception' ? '' : ` --name ${status.name}`} --level K)"`)
    this.log(`  reach a level with: inception exec${status.name === 'inception' ? '' : ` --name ${status.name}`} --level ${status.depth} -- docker ps`)
    return status
  }
}
