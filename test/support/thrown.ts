import {InceptionError} from '../../src/nesting/errors.js'

/** The InceptionError a call throws, so a test can check both its message and its hint. */
export function thrown(call: () => unknown): InceptionError {
  try {
    call()
  } catch (error) {
    if (error instanceof InceptionError) return error
    throw error
  }
  throw new Error('expected an InceptionError, but nothing was thrown')
}
