import type {Hook} from '@oclif/core'

import {failureReport} from '../base-command.js'
import {UsageError} from '../nesting/errors.js'
import {NEST_NAME} from '../nesting/request.js'

/**
 * oclif reads `inception up hx1` as the command `up:hx1` (its topics are separated by spaces)
 * and would answer "command up:hx1 not found". Commands that take no arguments get one line that
 * says so, and what the word was probably meant as; an unknown command, one line too. Exit 2.
 */
const hook: Hook.CommandNotFound = async function (options) {
  const words = options.id.split(':')
  const command = words.find((_, i) => this.config.findCommand(words.slice(0, i + 1).join(':')) !== undefined)
  const known = command === undefined ? undefined : words.slice(0, words.indexOf(command) + 1).join(':')
  const error = known === undefined ? unknownCommand(words.join(' ')) : extraWords(known.replaceAll(':', ' '), words.slice(known.split(':').length))
  process.stderr.write(`${failureReport(error, options.id)!.line}\n`)
  this.exit(error.exitCode)
}

function unknownCommand(typed: string): UsageError {
  return new UsageError(`there is no command "${typed}"`, 'see the commands with `inception --help`')
}

function extraWords(command: string, extra: string[]): UsageError {
  const word = extra[0]!
  const asName = NEST_NAME.test(word) ? `name the nest with --name ${word}` : undefined
  const meant =
    command === 'up' || command === 'demo'
      ? [asName, 'give the levels with --depth N'].filter(Boolean).join(', or ')
      : (asName ?? `see \`inception ${command} --help\``)
  return new UsageError(`\`inception ${command}\` takes no arguments (got ${JSON.stringify(extra.join(' '))})`, meant)
}

export default hook
