import {execa} from 'execa'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {DEFAULT_IMAGE, imageForSuite} from '../../src/nesting/suites.js'
import {cli, describeEvent, engineEventsDuring, expectNestIn, integrationEngine, psLevels, snapshot, shAt} from '../support/integration.js'

const engine = await integrationEngine()
const NEST = 'itest-docker'
/** A host image made by this file (a busybox root file system plus a 20 MB layer of random bytes). */
const HOST_IMAGE = 'itest-load:v1'

const major = (version: string) => Number(/^(\d+)\./.exec(version.trim())?.[1] ?? 0)

/** Runs a shell script at a level of a nest; fails the test with its output when it fails. */
async function atLevel(level: number, script: string, name = NEST): Promise<string> {
  const result = await shAt(name, level, script)
  expect(result.exitCode, `${script}\n${result.stdout}\n${result.stderr}`).toBe(0)
  return result.stdout.trim()
}

/** The ID an image has at a level ('' when it is not there). */
async function imageIdAt(level: number, image: string): Promise<string> {
  const result = await cli(['exec', '--name', NEST, '--level', String(level), '--', 'docker', 'image', 'inspect', '--format', '{{.Id}}', image])
  return result.exitCode === 0 ? result.stdout.trim() : ''
}

describe.skipIf(!engine)('a current Docker at every level (default suite)', () => {
  beforeAll(async () => {
    await cli(['down', '--name', NEST])
    const up = await cli(['up', '--name', NEST, '--depth', '3'])
    expect(up.exitCode, up.stderr).toBe(0)
    // The host image for `inception load`, built from the level image's own busybox root.
    const dir = mkdtempSync(join(tmpdir(), 'itest-load-'))
    try {
      await execa('sh', [
        '-c',
        `docker run --rm --entrypoint cat ${DEFAULT_IMAGE} /usr/local/lib/inception/busybox-rootfs.tar | docker import -c 'CMD ["sh"]' - itest-load:base`,
      ])
      writeFileSync(join(dir, 'Dockerfile'), 'FROM itest-load:base\nRUN head -c 20000000 /dev/urandom > /blob\nCMD ["sh", "-c", "wc -c < /blob"]\n')
      await execa('docker', ['build', '-q', '-t', HOST_IMAGE, dir])
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  afterAll(async () => {
    await cli(['down', '--name', NEST])
    await execa('docker', ['rmi', HOST_IMAGE, 'itest-load:base'], {reject: false})
  })

  it("runs Docker 26 or newer at level 3, and ps shows every level's version", async () => {
    expect(major(await atLevel(3, "docker version --format '{{.Server.Version}}'"))).toBeGreaterThanOrEqual(26)
    const {levels} = await psLevels(NEST)
    expect(levels).toHaveLength(3)
    for (const level of levels) expect(major(level.dockerdVersion)).toBeGreaterThanOrEqual(26)
  })

  it('runs a compose project at level 3: one service fetches a page from the other by its name', async () => {
    const output = await atLevel(
      3,
      `mkdir -p /tmp/compose && cd /tmp/compose && cat > compose.yaml <<'EOF'
services:
  web:
    image: busybox
    command: sh -c "mkdir -p /www && echo page-from-web > /www/index.html && exec httpd -f -p 80 -h /www"
  client:
    image: busybox
    depends_on: [web]
    command: sh -c "for i in $$(seq 40); do wget -qO- http://web/ && exit 0; sleep 0.25; done; exit 1"
EOF
docker compose up --abort-on-container-exit --exit-code-from client >/tmp/compose/out 2>&1; status=$?
docker compose logs --no-color client; docker compose down --timeout 1 >/dev/null 2>&1; exit $status`,
    )
    expect(output).toMatch(/client.*page-from-web/)
  })

  it('builds with docker buildx (BuildKit) at level 3 and runs the result', async () => {
    const output = await atLevel(
      3,
      `mkdir -p /tmp/buildx && cd /tmp/buildx &&
printf 'FROM busybox\\nRUN echo built-by-buildkit-at-$(hostname) > /hello\\nCMD ["cat", "/hello"]\\n' > Dockerfile &&
docker buildx build --load -t itest-buildx . >/tmp/buildx/out 2>&1 || { cat /tmp/buildx/out; exit 1; }
grep -q 'naming to' /tmp/buildx/out && docker run --rm itest-buildx`,
    )
    expect(output).toMatch(/^built-by-buildkit-at-\w+$/)
  })

  it("busybox's wget reaches a server at the same level by its name on a user network, and by address", async () => {
    const output = await atLevel(
      3,
      `docker network create itest-net >/dev/null &&
docker run -d --name itest-web --network itest-net busybox \
  sh -c 'mkdir /www && echo served-by-name > /www/index.html && exec httpd -f -p 80 -h /www' >/dev/null &&
address=$(docker inspect --format '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' itest-web) &&
for i in $(seq 40); do docker run --rm --network itest-net busybox wget -qO- http://itest-web/ && break; sleep 0.25; done &&
docker run --rm --network itest-net busybox wget -qO- "http://$address/" &&
docker run --rm --network itest-net busybox nslookup itest-web | grep -c "$address";
status=$?; docker rm -f itest-web >/dev/null; docker network rm itest-net >/dev/null; exit $status`,
    )
    expect(output.split('\n')).toEqual(['served-by-name', 'served-by-name', '1'])
  })

  it('inception load puts a host image into level 3 (the innermost) with the same ID, and it runs there', async () => {
    const hostId = (await execa('docker', ['image', 'inspect', '--format', '{{.Id}}', HOST_IMAGE])).stdout.trim()
    expect(hostId).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(await imageIdAt(3, HOST_IMAGE)).toBe('')
    const load = await cli(['load', HOST_IMAGE, '--name', NEST])
    expect(load.exitCode, load.stderr).toBe(0)
    expect(load.stdout).toContain(`level 3: Loaded image: ${HOST_IMAGE}`)
    expect(await imageIdAt(3, HOST_IMAGE)).toBe(hostId)
    expect(await imageIdAt(2, HOST_IMAGE)).toBe('')
    expect(await atLevel(3, `docker run --rm ${HOST_IMAGE}`)).toBe('20000000')
    // Nothing is left in the directory the levels share.
    expect(await atLevel(1, 'ls -A /run/inception/board/spool 2>/dev/null | wc -l')).toBe('0')
  })

  it('inception load --all-levels puts it into every level, reporting each', async () => {
    const hostId = (await execa('docker', ['image', 'inspect', '--format', '{{.Id}}', 'itest-load:base'])).stdout.trim()
    const load = await cli(['load', 'itest-load:base', '--all-levels', '--name', NEST, '--json'])
    expect(load.exitCode, load.stderr).toBe(0)
    const report = JSON.parse(load.stdout) as {levels: number[]; bytes: number; images: Array<{id: string}>}
    expect(report.levels).toEqual([1, 2, 3])
    expect(report.images[0]!.id).toBe(hostId)
    expect(report.bytes).toBeGreaterThan(1_000_000)
    for (const level of [1, 2, 3]) expect(await imageIdAt(level, 'itest-load:base')).toBe(hostId)
  })

  it.each([
    [['load', 'itest-no-such-image:1'], 6, /image itest-no-such-image:1 is not in this engine/],
    [['load', HOST_IMAGE, '--level', '9'], 2, /level 9 is outside nest "itest-docker", which has levels 1 to 3/],
    [['load', HOST_IMAGE, '--name', 'itest-no-such-nest'], 4, /no nest named "itest-no-such-nest"/],
  ])('inception %j is refused with one line, changing nothing', async (args, code, pattern) => {
    const named = args.includes('--name') ? args : [...args, '--name', NEST]
    const before = await snapshot()
    await expectNestIn(before, NEST)
    const imagesBefore = await atLevel(3, 'docker images -q | sort')
    const result = await cli(named)
    expect(result.exitCode).toBe(code)
    expect(result.stderr.trim().split('\n')).toHaveLength(1)
    expect(result.stderr).toMatch(pattern)
    expect(await snapshot()).toEqual(before)
    expect(await atLevel(3, 'docker images -q | sort')).toBe(imagesBefore)
  })
})

describe.skipIf(!engine)('the other suites', () => {
  const NAME = 'itest-suite'

  afterAll(async () => {
    await cli(['down', '--name', NAME])
  })

  it('forky: builds, and a nest of it runs Docker 28 or newer at level 2', async () => {
    const build = await cli(['build', '--suite', 'forky'], {timeout: 600_000})
    expect(build.exitCode, build.stdout + build.stderr).toBe(0)
    const up = await cli(['up', '--name', NAME, '--suite', 'forky', '--depth', '2'])
    expect(up.exitCode, up.stderr).toBe(0)
    expect(major(await atLevel(2, "docker version --format '{{.Server.Version}}'", NAME))).toBeGreaterThanOrEqual(28)
    expect(await atLevel(2, 'docker compose version --short && docker buildx version >/dev/null && docker run --rm busybox echo ok', NAME)).toMatch(
      /^2\.\d+.*\nok$/,
    )
    expect((await cli(['down', '--name', NAME])).exitCode).toBe(0)
  }, 900_000)

  it('bookworm: still builds and nests, with Docker 20.10', async () => {
    const build = await cli(['build', '--suite', 'bookworm'], {timeout: 600_000})
    expect(build.exitCode, build.stdout + build.stderr).toBe(0)
    const up = await cli(['up', '--name', NAME, '--suite', 'bookworm', '--depth', '2'])
    expect(up.exitCode, up.stderr).toBe(0)
    expect(await atLevel(2, "docker version --format '{{.Server.Version}}' && docker run --rm busybox echo ok", NAME)).toMatch(/^20\.10\..*\nok$/)
    expect((await cli(['down', '--name', NAME])).exitCode).toBe(0)
  }, 900_000)

  it('up --suite of a suite that is not built: one line naming the build command, nothing created', async () => {
    // The forky image, moved aside for the length of this test (a rebuild would take a minute).
    const image = imageForSuite('forky')
    const aside = 'itest-aside:forky'
    await execa('docker', ['tag', image, aside])
    await execa('docker', ['rmi', image])
    try {
      const before = await snapshot()
      const {result, events} = await engineEventsDuring(() => cli(['up', '--name', NAME, '--suite', 'forky']))
      expect(events.map(describeEvent)).toEqual([])
      expect(result.exitCode).toBe(6)
      expect(result.stderr.trim().split('\n')).toHaveLength(1)
      expect(result.stderr).toContain(`the level image ${image} is not in the engine; run \`inception build --suite forky\` first`)
      expect(await snapshot()).toEqual(before)
    } finally {
      await execa('docker', ['tag', aside, image])
      await execa('docker', ['rmi', aside])
    }
  })
})
