#!/usr/bin/env node
import {withDefaultCommand} from './default-command.js'

// @oclif/core checks, as it loads, that Node satisfies its own package's engines (>=18), with
// semver: 15-30 ms of every command's start, measured, for a warning this CLI's Node (20.5 or
// later, package.json) never needs. Set before oclif is imported, hence its dynamic import.
process.env.OCLIF_DISABLE_ENGINE_WARNING ??= '1'
const {execute} = await import('@oclif/core')

await execute({args: withDefaultCommand(process.argv.slice(2)), dir: import.meta.url})
