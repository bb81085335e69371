import {describe, expect, it} from 'vitest'

import {DAEMON_INNER_PORT_BASE} from '../../src/nesting/contract.js'
import {POOL_NETWORK_PREFIX} from '../../src/nesting/subnets.js'
import {initSandboxes, type InitSandbox} from '../support/init-shell.js'

/**
 * The init's per-level choices for the daemon, run by `sh`: this level's entry in the plan's
 * lists, the network options by dockerd version, the TLS listener, and the iptables backend
 * (from a fake /proc/net under INCEPTION_PROC; iptables-nft is a fake).
 */
const sandbox = initSandboxes()

async function output(box: InitSandbox, script: string, env: Record<string, string> = {}): Promise<string> {
  const result = await box.run(script, env)
  expect(result.exitCode, result.stderr).toBe(0)
  return result.stdout
}

describe('nth_for_level', () => {
  it("is this level's entry, outermost first, and empty past the list's end or for an empty list", async () => {
    const box = sandbox()
    const nth = (level: number, list: string) => output(box, `nth_for_level "${list}"`, {INCEPTION_LEVEL: String(level)})
    expect(await nth(1, 'a b c')).toBe('a')
    expect(await nth(3, 'a b c')).toBe('c')
    expect(await nth(4, 'a b c')).toBe('')
    expect(await nth(5, 'a b c')).toBe('')
    expect(await nth(2, '')).toBe('')
  })
})

describe('network_options', () => {
  const env = {INCEPTION_LEVEL: '2', INCEPTION_BRIDGES: '10.201.0.1/24 10.202.0.1/24', INCEPTION_POOLS: '10.211.0.0/16 10.212.0.0/16'}
  const options = (major: number, ip6 = '') => output(sandbox(), `MTU=1400\nIP6TABLES_OPTION=${ip6}\nDOCKERD_MAJOR=${major}\nnetwork_options`, env)

  it("dockerd 20.10: this level's bridge and pool, and the MTU of the bridge only", async () => {
    expect((await options(20)).split('\n')).toEqual([
      '--bip=10.202.0.1/24',
      `--default-address-pool=base=10.212.0.0/16,size=${POOL_NETWORK_PREFIX}`,
      '--mtu=1400',
    ])
  })

  it("dockerd 24 and later: the MTU of users' networks too, and ip6tables off where it does not work", async () => {
    expect((await options(26, '--ip6tables=false')).split('\n')).toEqual([
      '--bip=10.202.0.1/24',
      `--default-address-pool=base=10.212.0.0/16,size=${POOL_NETWORK_PREFIX}`,
      '--mtu=1400',
      '--default-network-opt=bridge=com.docker.network.driver.mtu=1400',
      '--ip6tables=false',
    ])
  })

  it('a level past the lists gets neither bridge nor pool', async () => {
    const box = sandbox()
    const result = await output(box, 'MTU=1500\nIP6TABLES_OPTION=\nDOCKERD_MAJOR=20\nnetwork_options', {...env, INCEPTION_LEVEL: '3'})
    expect(result).toBe('--mtu=1500')
  })
})

describe("the networks' MTU", () => {
  // The uplink (the default route's interface) says 1450; dockerd writes its arguments one per line.
  const fakes = {busybox: 'echo "default via 10.0.0.1 dev eth0 proto static"', dockerd: 'printf "%s\\n" "$@" >"$SANDBOX/dockerd.args"'}
  const startDockerd = 'mkdir -p "$STATE_DIR"; STORAGE_DRIVER=overlay2; DOCKERD_MAJOR=26; IP6TABLES_OPTION=; choose_mtu; echo "mtu=$MTU"; start_dockerd; wait'

  /** What choose_mtu decided, and the MTU options dockerd was started with. */
  async function started(env: Record<string, string>, uplinkMtu: string | undefined): Promise<{mtu: string; options: string[]}> {
    const box = sandbox(fakes)
    if (uplinkMtu !== undefined) box.write('net/eth0/mtu', `${uplinkMtu}\n`)
    const mtu = await output(box, startDockerd, {INCEPTION_SYS_NET: box.path('net'), ...env})
    const args = (await output(box, 'cat "$SANDBOX/dockerd.args"')).split('\n')
    return {mtu, options: args.filter((arg) => arg.includes('mtu'))}
  }

  it("--mtu (INCEPTION_MTU) wins over the uplink's, for the bridge and for users' networks", async () => {
    expect(await started({INCEPTION_MTU: '1400'}, '1450')).toEqual({
      mtu: 'mtu=1400',
      options: ['--mtu=1400', '--default-network-opt=bridge=com.docker.network.driver.mtu=1400'],
    })
  })

  it("without --mtu, the uplink's MTU; without an uplink to read, 1500", async () => {
    expect((await started({INCEPTION_MTU: ''}, '1450')).options).toEqual(['--mtu=1450', '--default-network-opt=bridge=com.docker.network.driver.mtu=1450'])
    expect((await started({INCEPTION_MTU: ''}, undefined)).mtu).toBe('mtu=1500')
  })
})

describe('daemon_tcp_options', () => {
  it("with --expose-daemons: listens on base + level with mutual TLS from the nest's material", async () => {
    const box = sandbox()
    box.write('tls/server-key.pem', '')
    const tls = box.path('tls')
    expect((await output(box, 'daemon_tcp_options', {INCEPTION_LEVEL: '3', INCEPTION_EXPOSE_DAEMONS: '1'})).split('\n')).toEqual([
      `--host=tcp://0.0.0.0:${DAEMON_INNER_PORT_BASE + 3}`,
      '--tlsverify',
      `--tlscacert=${tls}/ca.pem`,
      `--tlscert=${tls}/server-cert.pem`,
      `--tlskey=${tls}/server-key.pem`,
    ])
    expect(await output(box, 'daemon_tcp_options', {INCEPTION_LEVEL: '3', INCEPTION_EXPOSE_DAEMONS: ''})).toBe('')
  })

  it('fails the level when the TLS material is missing', async () => {
    const box = sandbox()
    const result = await box.run('daemon_tcp_options', {INCEPTION_EXPOSE_DAEMONS: '1'})
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain(`error: --expose-daemons, but no TLS material in ${box.path('tls')}`)
  })
})

describe('the iptables backend', () => {
  const decide = async (legacyTables: boolean, nftWorks: boolean) => {
    const box = sandbox({'iptables-nft': nftWorks ? 'exit 0' : 'exit 1'})
    box.write('proc/net/ip_tables_names', legacyTables ? 'filter\n' : '')
    box.write('proc/net/ip6_tables_names', '')
    return output(box, 'decide_iptables', {INCEPTION_PROC: box.path('proc')})
  }

  it('legacy when the kernel already holds legacy tables, else nf_tables when it works, else legacy', async () => {
    expect(await decide(true, true)).toBe('legacy')
    expect(await decide(false, true)).toBe('nft')
    expect(await decide(false, false)).toBe('legacy')
  })
})
