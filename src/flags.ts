import {Flags} from '@oclif/core'

import type {BudgetGiven} from './nesting/budgets.js'

import {parseImageReference} from './nesting/image.js'
import type {PortMapping} from './nesting/ports.js'
import {DEFAULT_PRIVILEGE, PRIVILEGE_REQUESTS} from './nesting/privilege.js'
import {DEFAULT_BIND, parseBind, parseDepth, parseHostPort, parseLevel, parseNestName, parseNetworkName, parseTimeout} from './nesting/request.js'
import {
  CA_CERT,
  CPUS,
  DATA_ROOT,
  DNS,
  DOCKERD_ARG,
  INSECURE_REGISTRY,
  MEMORY,
  MTU,
  NO_PROXY,
  PIDS,
  PROXY,
  PUBLISH,
  REGISTRY_MIRROR,
  SOCKETS,
  STORAGE_DRIVER,
} from './nesting/settings.js'
import type {SocketsChoice} from './nesting/sockets.js'
import {type DataRoot, STORAGE_DRIVERS} from './nesting/storage.js'
import {type Cidr, DEFAULT_SUBNET_POOL, parseSubnetPool} from './nesting/subnets.js'
import {DEFAULT_SUITE, SUITES} from './nesting/suites.js'

// The kinds of flag the commands take. Each one's value comes out of oclif's parser as the
// domain's type, parsed by the domain's own function: a command gets a depth as a number and a
// -p as a PortMapping, never a string to convert later. A value the domain refuses stops the
// command before it runs, with the domain's UsageError (base-command.ts makes it one line).
// Commands add what is theirs: description, default, char.

export const nestNameFlag = Flags.custom({helpValue: '<name>', parse: async (text) => parseNestName(text)})

/** A whole number only: the range depends on --max-depth, and is checked with the rest of the request. */
export const depthFlag = Flags.custom<number>({char: 'd', helpValue: '<levels>', parse: async (text) => parseDepth(text)})

export const levelFlag = Flags.custom<number>({char: 'l', helpValue: '<level>', parse: async (text) => parseLevel(text)})

/** 1 to 3600 seconds. */
export const timeoutFlag = Flags.custom<number>({helpValue: '<seconds>', parse: async (text) => parseTimeout(text)})

/** A port of this machine; the message names the flag it came from (--port, --daemon-ports). */
export const hostPortFlag = Flags.custom<number>({helpValue: '<port>', parse: async (text, _context, flag) => parseHostPort(text, `--${flag.name}`)})

export const suiteFlag = Flags.option({options: SUITES, default: DEFAULT_SUITE})

export const privilegeFlag = Flags.option({options: PRIVILEGE_REQUESTS, default: DEFAULT_PRIVILEGE})

export const bindFlag = Flags.custom({helpValue: '<address>', default: DEFAULT_BIND, parse: async (text) => parseBind(text)})

export const subnetPoolFlag = Flags.custom<Cidr>({
  helpValue: '<cidr>',
  default: parseSubnetPool(DEFAULT_SUBNET_POOL),
  defaultHelp: async () => DEFAULT_SUBNET_POOL,
  parse: async (text) => parseSubnetPool(text),
})

export const networkFlag = Flags.custom({helpValue: '<network>', parse: async (text) => parseNetworkName(text)})

/** An image reference (NAME[:TAG][@DIGEST] or an ID), checked before the engine sees it; the message names the flag. */
export const imageFlag = Flags.custom({helpValue: '<image>', parse: async (text, _context, flag) => parseImageReference(text, `--${flag.name}`)})

/** A budget's flag: repeatable, AMOUNT[@LEVEL]. */
const budgetFlag = (entry: typeof MEMORY) =>
  Flags.custom<BudgetGiven>({helpValue: entry.helpValue, multiple: true, description: entry.description, parse: async (text) => entry.parse(text)})()

/**
 * `up`'s flags for the settings every level honours: named, described, defaulted and parsed by
 * their entries in the table (src/nesting/settings.ts). The keys are the entries' `flag`s (a unit
 * test holds them together): oclif needs them as literals to type what it parses.
 */
export const settingFlags = () => ({
  [STORAGE_DRIVER.flag as 'storage-driver']: Flags.option({
    options: STORAGE_DRIVERS,
    default: STORAGE_DRIVER.default,
    helpValue: STORAGE_DRIVER.helpValue,
    description: STORAGE_DRIVER.description,
  })(),
  [DATA_ROOT.flag as 'data-root']: Flags.custom<DataRoot>({
    helpValue: DATA_ROOT.helpValue,
    default: DATA_ROOT.default,
    // The default is an object: help shows it the way it is written.
    defaultHelp: async () => DATA_ROOT.defaultHelp,
    description: DATA_ROOT.description,
    parse: async (text) => DATA_ROOT.parse(text),
  })(),
  [PUBLISH.flag as 'publish']: Flags.custom<PortMapping>({
    char: PUBLISH.char,
    helpValue: PUBLISH.helpValue,
    multiple: true,
    description: PUBLISH.description,
    parse: async (text) => PUBLISH.parse(text),
  })(),
  [MTU.flag as 'mtu']: Flags.custom<number>({helpValue: MTU.helpValue, description: MTU.description, parse: async (text) => MTU.parse(text)!})(),
  [SOCKETS.flag as 'sockets']: Flags.custom<SocketsChoice>({
    helpValue: SOCKETS.helpValue,
    default: SOCKETS.default as SocketsChoice,
    defaultHelp: async () => 'auto',
    description: SOCKETS.description,
    parse: async (text) => SOCKETS.parse(text),
  })(),
  [REGISTRY_MIRROR.flag as 'registry-mirror']: Flags.custom({
    helpValue: REGISTRY_MIRROR.helpValue,
    multiple: true,
    description: REGISTRY_MIRROR.description,
    defaultHelp: async () => REGISTRY_MIRROR.defaultHelp,
    parse: async (text) => REGISTRY_MIRROR.parse(text),
  })(),
  [INSECURE_REGISTRY.flag as 'insecure-registry']: Flags.custom({
    helpValue: INSECURE_REGISTRY.helpValue,
    multiple: true,
    description: INSECURE_REGISTRY.description,
    defaultHelp: async () => INSECURE_REGISTRY.defaultHelp,
    parse: async (text) => INSECURE_REGISTRY.parse(text),
  })(),
  [PROXY.flag as 'proxy']: Flags.custom({
    helpValue: PROXY.helpValue,
    description: PROXY.description,
    defaultHelp: async () => PROXY.defaultHelp,
    parse: async (text) => PROXY.parse(text)!,
  })(),
  [NO_PROXY.flag as 'no-proxy']: Flags.custom({
    helpValue: NO_PROXY.helpValue,
    description: NO_PROXY.description,
    defaultHelp: async () => NO_PROXY.defaultHelp,
    parse: async (text) => NO_PROXY.parse(text)!,
  })(),
  [DNS.flag as 'dns']: Flags.custom({
    helpValue: DNS.helpValue,
    multiple: true,
    description: DNS.description,
    defaultHelp: async () => DNS.defaultHelp,
    parse: async (text) => DNS.parse(text),
  })(),
  [CA_CERT.flag as 'ca-cert']: Flags.custom<{file: string; pem: string}>({
    helpValue: CA_CERT.helpValue,
    multiple: true,
    description: CA_CERT.description,
    defaultHelp: async () => CA_CERT.defaultHelp,
    parse: async (text) => CA_CERT.parse(text),
  })(),
  inherit: Flags.boolean({
    description: "take the engine's registry mirrors, insecure registries, proxy, DNS and CA certificates for every level (--no-inherit: none but the flags')",
    default: true,
    allowNo: true,
  }),
  [MEMORY.flag as 'memory']: budgetFlag(MEMORY),
  [CPUS.flag as 'cpus']: budgetFlag(CPUS),
  [PIDS.flag as 'pids']: budgetFlag(PIDS),
  [DOCKERD_ARG.flag as 'dockerd-arg']: Flags.custom({
    helpValue: DOCKERD_ARG.helpValue,
    multiple: true,
    description: DOCKERD_ARG.description,
    parse: async (text) => DOCKERD_ARG.parse(text),
  })(),
})
