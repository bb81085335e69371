import {output} from './host-cgroups.js'

/** One event from an engine's event stream (`docker events --format '{{json .}}'`). */
export interface EngineEvent {
  Type: string
  Action: string
  Actor: {ID: string; Attributes?: Record<string, string>}
  timeNano: number
}

/** Actions that only read a container: a file read through the archive API, a command run in it. They create and remove nothing on the engine. */
const READ_ACTIONS = [/^archive-path$/, /^exec_(create|start|die)\b/]

/** The events that change something on the engine: every one but reads. */
export function engineChanges(events: EngineEvent[]): EngineEvent[] {
  return events.filter((event) => !(event.Type === 'container' && READ_ACTIONS.some((read) => read.test(event.Action))))
}

/** An event in one line, for a failure message. */
export function describeEvent(event: EngineEvent): string {
  return `${event.Type} ${event.Action} ${event.Actor.Attributes?.name ?? event.Actor.ID}`
}

/**
 * Runs `fn` and returns, with its result, every container, volume, network and image event the
 * engine `env` points at (this machine's by default) recorded while it ran: the engine's own
 * account of what was created and removed, which end-state snapshots cannot give (a create
 * followed by a removal leaves them equal). Fails when the stream cannot be read: before `fn`, a
 * canary volume is created and removed, and a stream that does not show both is not trusted.
 */
export async function engineEventsDuring<T>(fn: () => Promise<T>, env: Record<string, string> = {}): Promise<{result: T; events: EngineEvent[]}> {
  const seconds = (ms: number) => (ms / 1000).toFixed(3)
  const canary = `itest-events-canary-${process.pid}-${Date.now()}`
  const from = Date.now() - 1
  await output(['docker', 'volume', 'create', canary], env)
  await output(['docker', 'volume', 'rm', canary], env)
  const since = Date.now()
  const result = await fn()
  // Whole milliseconds: the end rounded up, so that nothing of the last one is cut off.
  const until = Date.now() + 1
  const filters = ['container', 'volume', 'network', 'image'].flatMap((type) => ['--filter', `type=${type}`])
  const stream = await output(['docker', 'events', '--since', seconds(from), '--until', seconds(until), '--format', '{{json .}}', ...filters], env)
  const all = stream
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => {
      try {
        return JSON.parse(line) as EngineEvent
      } catch {
        throw new Error(`engine events: not an event: ${line}`)
      }
    })
  const isCanary = (event: EngineEvent) => event.Type === 'volume' && event.Actor.ID === canary
  const canaryActions = all.filter(isCanary).map((event) => event.Action)
  if (!canaryActions.includes('create') || !canaryActions.includes('destroy'))
    throw new Error(
      `engine events: the stream did not show the canary volume ${canary} made and removed (saw ${all.length} events); it cannot be trusted to show anything`,
    )
  return {result, events: all.filter((event) => !isCanary(event) && event.timeNano >= since * 1e6)}
}
