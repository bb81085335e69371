#!/usr/bin/env node
// Runs the CLI from the compiled tree without the manifest cache, for development.
import {execute} from '@oclif/core'

import {withDefaultCommand} from './default-command.js'

await execute({args: withDefaultCommand(process.argv.slice(2)), development: true, dir: import.meta.url})
