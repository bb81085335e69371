#!/usr/bin/env node
// The mutation check (`npm run test:mutations`): each breakage below ignores a value the README
// promises to honour. For each, a copy of the tree gets that one breakage and runs only the test
// files that must catch it; the check fails if any breakage survives (its tests still pass), if
// the text a breakage looks for is not in its file exactly once (a stale breakage must not pass
// quietly), or if those tests fail on the copy before any breakage (then they catch nothing).
// The real tree is never written. Unit tests only: it needs no engine.
//
// Usage: node scripts/mutations.js [--list] [NAME...]   (no NAME: every breakage)
import {spawnSync} from 'node:child_process'
import {cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')

/**
 * The breakages. name: what to ask for on the command line; file: relative to the root; find:
 * the exact text replaced (it must occur once); replace: what it becomes; tests: the test files
 * that must fail with it; what: the promise it breaks, in one line.
 */
const BREAKAGES = [
  {
    name: 'memory-budget-level-1-only',
    what: '--memory bounds level 1 only; the levels below run unbounded',
    file: 'src/nesting/budgets.ts',
    find: 'const memoryBytes = budgetOf(budgets, level).memoryBytes',
    replace: 'const memoryBytes = level === 1 ? budgetOf(budgets, level).memoryBytes : undefined',
    tests: ['test/unit/budgets.test.ts'],
  },
  {
    name: 'pids-budget-not-rendered',
    what: '--pids never reaches the levels below level 1 (their `docker run` lacks --pids-limit)',
    file: 'src/nesting/render.ts',
    find: "...(host.pidsLimit === undefined ? [] : ['--pids-limit', String(host.pidsLimit)]),",
    replace: '',
    tests: ['test/unit/budgets.test.ts'],
  },
  {
    name: 'budget-split-keeps-nothing-for-engines',
    what: "a level given no budget gets all of its parent's, leaving nothing for the parent's engine",
    file: 'src/nesting/budgets.ts',
    find: 'const fromParent = parent === undefined ? undefined : parent - need',
    replace: 'const fromParent = parent',
    tests: ['test/unit/budgets.test.ts'],
  },
  {
    name: 'mtu-ignored',
    what: 'the init ignores INCEPTION_MTU (--mtu does nothing)',
    file: 'image/init/network.sh',
    find: 'MTU=${INCEPTION_MTU:-$(uplink_mtu || :)}',
    replace: 'MTU=$(uplink_mtu || :)',
    tests: ['test/unit/init-network.test.ts', 'test/unit/init-engine.test.ts'],
  },
  {
    name: 'dockerd-arg-level-1-only',
    what: "--dockerd-arg reaches level 1's dockerd only",
    file: 'image/init/engine.sh',
    find: '  set -- "$@" $INCEPTION_DOCKERD_OPTIONS',
    replace: '  [ "$INCEPTION_LEVEL" != 1 ] || set -- "$@" $INCEPTION_DOCKERD_OPTIONS',
    tests: ['test/unit/init-engine.test.ts'],
  },
  {
    name: 'dockerd-arg-not-passed-down',
    what: '--dockerd-arg rendered for level 1 only, not for the levels below',
    file: 'src/nesting/settings.ts',
    find: 'level: (args) => ({dockerd: args}),',
    replace: 'level: (args, {level}) => ({dockerd: level === 1 ? args : []}),',
    tests: ['test/unit/init-engine.test.ts', 'test/unit/render.test.ts'],
  },
  {
    name: 'storage-driver-not-passed-down',
    what: '--storage-driver rendered for level 1 only, the levels below get the default',
    file: 'src/nesting/settings.ts',
    find: 'level: (driver) => ({env: {INCEPTION_STORAGE_DRIVER: driver}}),',
    replace: "level: (driver, {level}) => ({env: {INCEPTION_STORAGE_DRIVER: level === 1 ? driver : 'overlay2'}}),",
    tests: ['test/unit/render.test.ts'],
  },
  {
    name: 'port-chain-cut',
    what: 'a -p port published by level 1 only, not down the chain to its level',
    file: 'src/nesting/settings.ts',
    find: '.filter((port) => targetLevel(port, depth) >= level)',
    replace: '.filter(() => level === 1)',
    tests: ['test/unit/render.test.ts', 'test/unit/init-levels.test.ts'],
  },
  {
    name: 'storage-driver-ignored',
    what: 'the init tries overlay2 first whatever --storage-driver asks',
    file: 'image/init/storage.sh',
    find: 'for driver in "$INCEPTION_STORAGE_DRIVER" overlay2 fuse-overlayfs vfs; do',
    replace: 'for driver in overlay2 fuse-overlayfs vfs; do',
    tests: ['test/unit/init-storage.test.ts'],
  },
  {
    name: 'timeout-ignored-by-up',
    what: "up's wait for the levels ignores --timeout",
    file: 'src/nesting/launch.ts',
    find: '(request.readyTimeoutSeconds + 15) * 1000',
    replace: '(60 + 15) * 1000',
    tests: ['test/unit/nest.test.ts'],
  },
  {
    name: 'timeout-ignored-by-init',
    what: "the init's wait for dockerd ignores INCEPTION_READY_TIMEOUT",
    file: 'image/init/engine.sh',
    find: 'ticks=$((INCEPTION_READY_TIMEOUT * 20))',
    replace: 'ticks=$((60 * 20))',
    tests: ['test/unit/init-engine.test.ts'],
  },
  {
    name: 'timeout-not-passed',
    what: '--timeout is not passed to the init',
    file: 'src/nesting/render.ts',
    find: 'INCEPTION_READY_TIMEOUT: String(request.readyTimeoutSeconds),',
    replace: "INCEPTION_READY_TIMEOUT: '60',",
    tests: ['test/unit/plan.test.ts'],
  },
  {
    name: 'daemon-ports-ignored',
    what: 'the plan ignores --daemon-ports (the engine picks free ports)',
    file: 'src/nesting/render.ts',
    find: 'request.daemonHostPortBase === undefined ? undefined : request.daemonHostPortBase + target - 1',
    replace: 'undefined',
    tests: ['test/unit/plan.test.ts'],
  },
  {
    name: 'subnet-pool-ignored',
    what: "the plan takes the levels' bridges from the default pool whatever --subnet-pool says",
    file: 'src/nesting/plan.ts',
    find: 'allocateSubnets(request.subnetPool, request.depth, takenSubnets)',
    replace: "allocateSubnets(parseCidr('172.31.0.0/16')!, request.depth, takenSubnets)",
    tests: ['test/unit/plan.test.ts'],
  },
  {
    name: 'current-context-ignored',
    what: "the endpoint ignores the docker CLI's current context (config.json)",
    file: 'src/nesting/endpoint.ts',
    find: "if (current && current !== 'default') return fromContext(current, env)",
    replace: 'void current',
    tests: ['test/unit/endpoint.test.ts'],
  },
  {
    name: 'seed-layers-not-waited',
    what: "a level goes on before its image seed's layers are unpacked",
    file: 'image/init/images.sh',
    find: 'await_job seed_layers && return 0',
    replace: 'return 0',
    tests: ['test/unit/init-levels.test.ts'],
  },
  {
    name: 'seed-layers-race',
    what: "the seed's layers tar leaves its parent folders to tar, racing the store's tar as both unpack",
    file: 'image/init/images.sh',
    find: `--no-recursion "$STORAGE_DRIVER" $(printf '%s\\n' $layers | sed 's|/diff$||') --recursion $layers`,
    replace: '$layers',
    tests: ['test/unit/init-levels.test.ts'],
  },
]

function occurrences(text, part) {
  let count = 0
  for (let at = text.indexOf(part); at !== -1; at = text.indexOf(part, at + part.length)) count++
  return count
}

/** A copy of the tree in a temporary folder: no node_modules (linked), no dist, no .git. */
function copyTree() {
  const copy = mkdtempSync(join(tmpdir(), 'inception-mutations-'))
  const skipped = new Set(['node_modules', 'dist', '.git'].map((name) => join(ROOT, name)))
  cpSync(ROOT, copy, {recursive: true, filter: (source) => !skipped.has(source)})
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'), 'dir')
  return copy
}

/** Runs unit test files in the copy; returns whether they passed, and the names of the failed tests. */
function runTests(copy, files) {
  const run = spawnSync('npx', ['vitest', 'run', '--project', 'unit', '--reporter', 'dot', ...files], {
    cwd: copy,
    encoding: 'utf8',
    env: {...process.env, NO_COLOR: '1', FORCE_COLOR: '0'},
  })
  const output = `${run.stdout}${run.stderr}`
  const failed = [...output.matchAll(/^\s*FAIL\s+(.*)$/gm)].map((match) => match[1].trim())
  return {passed: run.status === 0, failed, output}
}

function main(argv) {
  if (argv.includes('--list')) {
    for (const breakage of BREAKAGES) console.log(`${breakage.name.padEnd(32)} ${breakage.what}`)
    return 0
  }
  const unknown = argv.filter((name) => !BREAKAGES.some((breakage) => breakage.name === name))
  if (unknown.length > 0) {
    console.error(`mutations: unknown breakage ${unknown.join(', ')}; see the names with --list`)
    return 2
  }
  const chosen = argv.length === 0 ? BREAKAGES : BREAKAGES.filter((breakage) => argv.includes(breakage.name))

  // Stale breakages first: each must find its text exactly once in the real tree.
  const stale = chosen.filter((breakage) => occurrences(readFileSync(join(ROOT, breakage.file), 'utf8'), breakage.find) !== 1)
  for (const breakage of stale) {
    const count = occurrences(readFileSync(join(ROOT, breakage.file), 'utf8'), breakage.find)
    console.error(`STALE     ${breakage.name}: its text is in ${breakage.file} ${count} times, not once; update the breakage: ${JSON.stringify(breakage.find)}`)
  }
  if (stale.length > 0) return 1

  const copy = copyTree()
  try {
    const allFiles = [...new Set(chosen.flatMap((breakage) => breakage.tests))]
    const baseline = runTests(copy, allFiles)
    if (!baseline.passed) {
      console.error(`mutations: the tests fail with no breakage, so they would catch anything:\n${baseline.output}`)
      return 1
    }
    let survived = 0
    for (const breakage of chosen) {
      const file = join(copy, breakage.file)
      const original = readFileSync(file, 'utf8')
      writeFileSync(
        file,
        original.replace(breakage.find, () => breakage.replace),
      )
      try {
        const result = runTests(copy, breakage.tests)
        if (result.passed) {
          survived++
          console.log(`SURVIVED  ${breakage.name}: ${breakage.what} (${breakage.tests.join(', ')} still pass)`)
        } else {
          console.log(`caught    ${breakage.name}: ${breakage.what}`)
          for (const test of result.failed) console.log(`            by ${test}`)
        }
      } finally {
        writeFileSync(file, original)
      }
    }
    console.log(`${chosen.length - survived} of ${chosen.length} breakages caught`)
    return survived === 0 ? 0 : 1
  } finally {
    rmSync(copy, {recursive: true, force: true})
  }
}

process.exitCode = main(process.argv.slice(2))
