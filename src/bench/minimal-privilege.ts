/**
 * `npm run bench:minimal`: finds, by experiment on this engine, the smallest privilege set with
 * which a depth-3 nest comes up and its innermost level runs an ordinary container. It starts
 * from every capability the engine grants plus every security option, removes one member at a
 * time, and keeps a member only when the nest fails without it; it prints what failed.
 * The result is what src/nesting/privilege.ts lists as MINIMAL_CAPABILITIES / MINIMAL_SECURITY.
 */
import {connectEngine} from '../nesting/dockerode-engine.js'
import {Capture} from '../nesting/engine.js'
import {LevelFailed} from '../nesting/errors.js'
import {Nests} from '../nesting/nest.js'
import {CAPS_SECURITY, DOCKER_20_CAPABILITIES, type SecurityOption} from '../nesting/contract.js'
import {decidePrivilege, minimalDecision} from '../nesting/privilege.js'
import {parseUpRequest} from '../nesting/request.js'

const NEST = 'minimal-probe'
const DEPTH = 3

async function main(): Promise<void> {
  const engine = await connectEngine()
  const nests = new Nests(engine)
  const caps = await decidePrivilege(engine, 'inception:' + (await import('../nesting/version.js')).VERSION, 'caps')
  // Everything the engine grants: all capability names this dockerd knows, less what the host withholds.
  let capabilities: string[] = DOCKER_20_CAPABILITIES.filter((c) => !(caps.mode === 'caps' && caps.capDrop.includes(c)))
  let security: SecurityOption[] = [...CAPS_SECURITY]

  const trial = async (capSet: string[], securitySet: SecurityOption[]): Promise<string | undefined> => {
    await nests.down(NEST)
    const request = parseUpRequest({name: NEST, depth: DEPTH, privilege: 'minimal', timeoutSeconds: 20})
    try {
      await nests.launch({request, decision: minimalDecision(capSet, securitySet)})
      const out = new Capture()
      const code = await nests.exec(NEST, DEPTH, ['docker', 'run', '--rm', 'busybox', 'true'], {stdout: out, stderr: out, timeoutMs: 60_000})
      return code === 0 ? undefined : `an ordinary container at level ${DEPTH} failed: ${out.text().trim().split('\n').pop()}`
    } catch (error) {
      const tail =
        error instanceof LevelFailed
          ? error.logTail
              .trim()
              .split('\n')
              .filter((l) => /error|fail|denied|permitted|read-only/i.test(l))
              .pop()
          : undefined
      return `${(error as Error).message}${tail ? ` (${tail.slice(0, 220)})` : ''}`
    } finally {
      await nests.down(NEST)
    }
  }

  const baseline = await trial(capabilities, security)
  if (baseline) throw new Error(`even the full set fails here: ${baseline}`)
  const needed: Array<{member: string; failure: string}> = []
  for (const cap of [...capabilities]) {
    const failure = await trial(
      capabilities.filter((c) => c !== cap),
      security,
    )
    if (failure) needed.push({member: cap, failure})
    else capabilities = capabilities.filter((c) => c !== cap)
    console.log(`${failure ? 'needed ' : 'dropped'} ${cap}${failure ? `: ${failure}` : ''}`)
  }
  for (const option of [...security]) {
    const failure = await trial(
      capabilities,
      security.filter((o) => o !== option),
    )
    if (failure) needed.push({member: option, failure})
    else security = security.filter((o) => o !== option)
    console.log(`${failure ? 'needed ' : 'dropped'} ${option}${failure ? `: ${failure}` : ''}`)
  }
  const confirm = await trial(capabilities, security)
  console.log('')
  console.log(`minimal set: ${capabilities.join(' ')} + ${security.join(' ')} (${confirm ? `FAILS: ${confirm}` : `depth ${DEPTH} works`})`)
  console.log(JSON.stringify(needed, null, 2))
}

await main()
