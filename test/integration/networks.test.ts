import {execa} from 'execa'
import {createHash} from 'node:crypto'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {overlaps, parseCidr} from '../../src/nesting/subnets.js'
import {cli, expectNestIn, integrationEngine, type HostSnapshot, snapshot, shAt} from '../support/integration.js'

/**
 * A nest on a host network whose MTU is 1400, as on many cloud machines and VPNs: every level
 * must keep to it, or large packets vanish while small ones pass.
 */
const engine = await integrationEngine()
const NEST = 'itest-net'
const HOST_NETWORK = 'itest-mtu1400'
const PORT = 18_150

async function atLevel(level: number, script: string): Promise<string> {
  const result = await shAt(NEST, level, script)
  expect(result.exitCode, `${script}\n${result.stdout}\n${result.stderr}`).toBe(0)
  return result.stdout.trim()
}

describe.skipIf(!engine)('networks that hold at every level', () => {
  let before: HostSnapshot

  beforeAll(async () => {
    await cli(['down', '--name', NEST])
    await execa('docker', ['network', 'rm', HOST_NETWORK], {reject: false})
    before = await snapshot()
    await execa('docker', ['network', 'create', '-o', 'com.docker.network.driver.mtu=1400', HOST_NETWORK])
    const up = await cli(['up', '--name', NEST, '--depth', '3', '--network', HOST_NETWORK, '-p', `${PORT}:8080`])
    expect(up.exitCode, up.stderr).toBe(0)
    await expectNestIn(await snapshot(), NEST)
  })

  afterAll(async () => {
    await cli(['down', '--name', NEST])
    await execa('docker', ['network', 'rm', HOST_NETWORK], {reject: false})
  })

  it('keeps MTU 1400 or less on every level: its uplink, its bridge, and a network made at level 3', async () => {
    for (const level of [1, 2, 3]) {
      // A container on the default bridge, so that the bridge has a port whatever the engine.
      const mtus = await atLevel(level, 'cat /sys/class/net/eth0/mtu; docker run --rm busybox cat /sys/class/net/eth0/mtu; cat /sys/class/net/docker0/mtu')
      for (const mtu of mtus.split('\n')) expect(Number(mtu), `level ${level}: ${mtus}`).toBeLessThanOrEqual(1400)
      expect(mtus.split('\n')).toHaveLength(3)
    }
    const inNetwork = await atLevel(
      3,
      'docker network create itest-l3 >/dev/null && docker run --rm --network itest-l3 busybox cat /sys/class/net/eth0/mtu; ' +
        'status=$?; docker network rm itest-l3 >/dev/null; exit $status',
    )
    expect(Number(inNetwork)).toBeGreaterThan(0)
    expect(Number(inNetwork)).toBeLessThanOrEqual(1400)
    const ps = JSON.parse((await cli(['ps', '--name', NEST, '--json'])).stdout) as Array<{network: string; levels: Array<{mtu: number}>}>
    expect(ps[0]!.network).toBe(HOST_NETWORK)
    expect(ps[0]!.levels.map((l) => l.mtu)).toEqual([1400, 1400, 1400])
  })

  it('brings 1 MB of random data served at level 3 to this machine through the -p chain, intact', async () => {
    const sent = await atLevel(
      3,
      'mkdir -p /tmp/www && head -c 1048576 /dev/urandom > /tmp/www/blob && busybox httpd -p 8080 -h /tmp/www && sha256sum /tmp/www/blob | cut -d" " -f1',
    )
    let received = ''
    for (let i = 0; i < 40 && received !== sent; i++) {
      const fetched = await execa('curl', ['-s', '-m', '10', `http://127.0.0.1:${PORT}/blob`], {encoding: 'buffer', reject: false})
      if (fetched.exitCode === 0) received = createHash('sha256').update(fetched.stdout).digest('hex')
      else await new Promise((r) => setTimeout(r, 250))
    }
    expect(sent).toMatch(/^[0-9a-f]{64}$/)
    expect(received).toBe(sent)
  })

  it('gives 17 networks made at level 3 subnets clear of every level and of the host network', async () => {
    const subnets = (
      await atLevel(
        3,
        `for i in $(seq 17); do docker network create itest-n$i >/dev/null || exit 1; done
docker network inspect --format '{{range .IPAM.Config}}{{.Subnet}}{{end}}' $(seq -f 'itest-n%g' 17); status=$?
for i in $(seq 17); do docker network rm itest-n$i >/dev/null; done; exit $status`,
      )
    ).split('\n')
    expect(subnets).toHaveLength(17)
    const ps = JSON.parse((await cli(['ps', '--name', NEST, '--json'])).stdout) as Array<{subnets: string[]; pools: string[]}>
    const hostSubnet = (await execa('docker', ['network', 'inspect', '--format', '{{range .IPAM.Config}}{{.Subnet}}{{end}}', HOST_NETWORK])).stdout.trim()
    const nest = ps[0]!.subnets.map((s) => parseCidr(s)!)
    expect(nest).toHaveLength(3)
    const level3Pool = parseCidr(ps[0]!.pools[2]!)!
    for (const text of subnets) {
      const subnet = parseCidr(text)!
      expect(subnet, text).toBeDefined()
      expect(overlaps(subnet, level3Pool), `${text} comes from level 3's pool`).toBe(true)
      for (const bridge of nest) expect(overlaps(subnet, bridge), `${text} and a level's bridge`).toBe(false)
      expect(overlaps(subnet, parseCidr(hostSubnet)!), `${text} and ${hostSubnet}`).toBe(false)
    }
    expect(new Set(subnets).size).toBe(17)
  })

  it('down leaves the host as it was', async () => {
    expect((await cli(['down', '--name', NEST])).exitCode).toBe(0)
    await execa('docker', ['network', 'rm', HOST_NETWORK])
    expect(await snapshot()).toEqual(before)
  })
})
