import {execa} from 'execa'
import {mkdirSync} from 'node:fs'
import {chromium} from 'playwright-core'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'

import {startDemo} from '../support/demo.js'
import {cli, ensureDebianPackage, expectNestIn, type HostSnapshot, integrationEngine, psLevels, ROOT, snapshot} from '../support/integration.js'

const engine = await integrationEngine()
const NEST = 'itest-demo'
const PORT = 18_095
const ARTIFACTS = `${ROOT}test/artifacts`

/** Chromium as the machine notes say to run it here: no sandbox as root, nothing that phones out. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

describe.skipIf(!engine)('the spinning-top demo in a browser', () => {
  let before: HostSnapshot

  beforeAll(async () => {
    const missing = await ensureDebianPackage('chromium', 'chromium')
    if (missing) throw new Error(missing)
    mkdirSync(ARTIFACTS, {recursive: true})
    await cli(['down', '--name', NEST])
    before = await snapshot()
  }, 600_000)

  afterAll(async () => {
    await cli(['down', '--name', NEST])
  })

  it('shows the top spinning and exactly the levels it runs in, then collapses leaving nothing', async () => {
    const {demo, output} = await startDemo(['--depth', '4', '--name', NEST, '--port', String(PORT)])
    expect(output).toContain(`http://127.0.0.1:${PORT}/`)
    // The leak check below must compare something: with the nest up, the host holds its parts.
    await expectNestIn(await snapshot(), NEST)

    const browser = await chromium.launch({executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS})
    try {
      const page = await browser.newPage({viewport: {width: 1280, height: 860}})
      await page.goto(`http://127.0.0.1:${PORT}/`)
      await page.waitForSelector('.level[data-level="4"]')
      const shownIds = await page.$$eval('.level[data-container-id]', (els) => els.map((e) => (e as HTMLElement).dataset.containerId))
      expect(shownIds).toEqual((await psLevels(NEST)).levels.map((l) => l.containerId))
      expect(await page.$eval('.level.innermost', (e) => (e as HTMLElement).dataset.level)).toBe('4')
      expect(await page.textContent('.level[data-level="0"]')).toContain('Host')

      // Spinning: the top's transform is set, and changes (waited for, not slept on).
      const first = await page.$eval('#top', (e) => getComputedStyle(e).transform)
      expect(first).not.toBe('none')
      await page.waitForFunction((was) => getComputedStyle(document.getElementById('top')!).transform !== was, first, {timeout: 5000})
      await page.screenshot({path: `${ARTIFACTS}/spinning-top.png`})
      const phone = await browser.newPage({viewport: {width: 390, height: 844}, deviceScaleFactor: 2})
      await phone.goto(`http://127.0.0.1:${PORT}/`)
      await phone.waitForSelector('.level[data-level="4"]')
      await phone.screenshot({path: `${ARTIFACTS}/spinning-top-phone.png`, fullPage: true})

      // Wake up: the page shows the collapse level by level, each level going in its turn
      // (1, then 2, ...: the collapse waits for the open page to show each step), until its
      // server is gone with the innermost level.
      demo.kill('SIGINT')
      await page.waitForSelector('body.collapsing', {timeout: 10_000})
      for (let going = 1; going <= 4; going++) {
        await page.waitForFunction(
          (n) =>
            document.querySelectorAll('.level.stopping').length === n && document.querySelector(`.level[data-level="${n}"]`)!.classList.contains('stopping'),
          going,
          {timeout: 10_000},
        )
      }
    } finally {
      await browser.close()
    }
    const ended = await demo
    expect(ended.exitCode).toBe(0)
    expect(String(ended.all)).toMatch(/You woke up: nest "itest-demo" removed/)
    expect(await snapshot()).toEqual(before)
  })
})

describe.skipIf(!engine)('the spinning-top demo in a terminal', () => {
  const SESSION = 'inception-itest-shell'
  const tmux = (...args: string[]) => execa('tmux', args, {reject: false})
  const screen = async () => (await tmux('capture-pane', '-p', '-t', SESSION)).stdout

  async function waitForScreen(pattern: RegExp, timeoutMs = 60_000): Promise<string> {
    const deadline = Date.now() + timeoutMs
    let last = ''
    while (Date.now() < deadline) {
      last = await screen()
      if (pattern.test(last)) return last
      await new Promise((r) => setTimeout(r, 200))
    }
    throw new Error(`timed out waiting for ${pattern} on the screen:\n${last}`)
  }

  beforeAll(async () => {
    const missing = await ensureDebianPackage('tmux', 'tmux')
    if (missing) throw new Error(missing)
    await cli(['down', '--name', 'itest-shell'])
    await tmux('kill-session', '-t', SESSION)
  }, 600_000)

  afterAll(async () => {
    await tmux('kill-session', '-t', SESSION)
    await cli(['down', '--name', 'itest-shell'])
  })

  it('drops into level 4, and four exits climb back to the host', async () => {
    const before = await snapshot()
    await tmux('new-session', '-d', '-s', SESSION, '-x', '120', '-y', '40', '-c', ROOT, 'env PS1="host$ " bash --norc --noprofile')
    await waitForScreen(/host\$\s*$/m)
    await tmux('send-keys', '-t', SESSION, 'node bin/run.js demo --shell --depth 4 --name itest-shell --port 18096', 'Enter')
    await waitForScreen(/\[inception L4 [0-9a-f]{12}\] .* #\s*$/m, 120_000)
    await tmux('send-keys', '-t', SESSION, 'hostname', 'Enter')
    const {levels} = await psLevels('itest-shell')
    await expectNestIn(await snapshot(), 'itest-shell')
    await waitForScreen(new RegExp(`^${levels[3]!.hostname}$`, 'm'))
    for (const level of [3, 2, 1]) {
      await tmux('send-keys', '-t', SESSION, 'exit', 'Enter')
      await waitForScreen(new RegExp(`\\[inception L${level} ${levels[level - 1]!.hostname}\\] .* #\\s*$`, 'm'))
    }
    await tmux('send-keys', '-t', SESSION, 'exit', 'Enter')
    const last = await waitForScreen(/You woke up[\s\S]*host\$\s*$/m, 60_000)
    expect(last).toMatch(/back on the host/)
    expect(last).toMatch(/\(.{3}\)/) // the top, drawn
    expect(await snapshot()).toEqual(before)
  })
})
