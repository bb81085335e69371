/**
 * dockerode loads gRPC and uuid (for BuildKit sessions), tar-fs (to pack a build context) and,
 * through docker-modem, ssh2 (for ssh:// engines) when it is imported: about 215 ms of every
 * command's start (measured: grpc-js 73 ms, proto-loader 73 ms, ssh2 60 ms; uuid and tar-fs with
 * its streams 9 and 7 ms more), for what only `inception build` uses (tar-fs) or nothing does
 * (its builds use the classic builder, its engines are reached over a socket or TCP). This
 * module, imported before dockerode, puts stand-ins for them in Node's module cache that load
 * the real module on first use, so nothing changes for a run that does use them.
 */
import {createRequire} from 'node:module'

const fromHere = createRequire(import.meta.url)
const fromDockerode = createRequire(fromHere.resolve('dockerode'))
const fromModem = createRequire(fromDockerode.resolve('docker-modem'))

/**
 * The modules given stand-ins here, by name. The CLI's bundles leave them out
 * (scripts/bundle-commands.js): a stand-in is only reached through a real require.
 */
export const DEFERRED_MODULES: string[] = []

function deferred(requireFrom: NodeJS.Require, name: string, standIn: (load: () => Record<string, unknown>) => object): void {
  DEFERRED_MODULES.push(name)
  const path = requireFrom.resolve(name)
  if (path in requireFrom.cache) return
  let real: Record<string, unknown> | undefined
  const load = () => {
    if (real === undefined) {
      Reflect.deleteProperty(requireFrom.cache, path)
      real = requireFrom(name) as Record<string, unknown>
    }
    return real
  }
  requireFrom.cache[path] = {id: path, filename: path, loaded: true, exports: standIn(load)} as unknown as NodeJS.Module
}

/** An object whose every property is read from the real module, loaded the first time one is. */
const proxyFor = (load: () => Record<string, unknown>) => new Proxy({}, {get: (_, key) => load()[key as string], has: (_, key) => key in load()})

deferred(fromDockerode, '@grpc/grpc-js', proxyFor)
deferred(fromDockerode, '@grpc/proto-loader', proxyFor)
deferred(fromDockerode, 'tar-fs', proxyFor)
// dockerode's session module reads uuid's v4 when it loads: a function that calls the real one.
deferred(fromDockerode, 'uuid', (load) => ({v4: (...args: unknown[]) => (load().v4 as (...a: unknown[]) => string)(...args)}))
// docker-modem reads ssh2's Client when it loads: a constructor that builds the real one when called.
deferred(fromModem, 'ssh2', (load) => ({
  Client: function Client(...args: unknown[]) {
    const RealClient = load().Client as new (...a: unknown[]) => object
    return new RealClient(...args)
  },
}))
