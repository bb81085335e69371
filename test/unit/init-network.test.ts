import {describe, expect, it} from 'vitest'

import {initSandboxes, type InitSandbox} from '../support/init-shell.js'

/**
 * The init's run-time choices for the daemon, run by `sh`: the network options by dockerd
 * version, the MTU, and the iptables backend
 * (from a fake /proc/net under INCEPTION_PROC; iptables-nft is a fake).
 */
const sandbox = initSandboxes()

async function output(box: InitSandbox, script: string, env: Record<string, string> = {}): Promise<string> {
  const result = await box.run(script, env)
  expect(result.exitCode, result.stderr).toBe(0)
  return result.stdout
}

describe('network_options', () => {
  const options = (major: number, ip6 = '') => output(sandbox(), `MTU=1400\nIP6TABLES_OPTION=${ip6}\nDOCKERD_MAJOR=${major}\nnetwork_options`)

  it('dockerd 20.10: the MTU of the bridge only', async () => {
    expect((await options(20)).split('\n')).toEqual(['--mtu=1400'])
  })

  it("dockerd 24 and later: the MTU of users' networks too, and ip6tables off where it does not work", async () => {
    expect((await options(26, '--ip6tables=false')).split('\n')).toEqual([
      '--mtu=1400',
      '--default-network-opt=bridge=com.docker.network.driver.mtu=1400',
      '--ip6tables=false',
    ])
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

describe('the iptables backend across levels', () => {
  it('level 1 decides and writes it on the board; a level below follows the board without deciding', async () => {
    const box = sandbox({'iptables-nft': 'exit 0'})
    box.write('proc/net/ip_tables_names', '')
    const env = {INCEPTION_PROC: box.path('proc')}
    const first = await box.run('mkdir -p "$BOARD_DIR"; choose_iptables; echo "$IPTABLES"', {...env, INCEPTION_LEVEL: '1'})
    expect(first.exitCode, first.stderr).toBe(0)
    expect(first.stdout).toBe('nft')
    expect(first.calls).toContain('iptables-nft -nL')
    expect(first.calls).toContain('update-alternatives --quiet --set iptables /usr/sbin/iptables-nft')
    // The kernel now holds legacy tables (as it could after level 1's choice): level 2 still follows level 1.
    box.write('proc/net/ip_tables_names', 'filter\n')
    const second = await box.run('choose_iptables; echo "$IPTABLES"', {...env, INCEPTION_LEVEL: '2'})
    expect(second.exitCode, second.stderr).toBe(0)
    expect(second.stdout).toBe('nft')
    expect(second.calls.filter((call) => call.startsWith('iptables-nft'))).toEqual([])
  })
})
