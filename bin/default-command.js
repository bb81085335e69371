// `inception --depth 4` means `inception up --depth 4`: a leading flag (other than help and
// version) names no command, so the default command is up.
export function withDefaultCommand(args) {
  const first = args[0]
  if (first !== undefined && first.startsWith('-') && !['--help', '-h', '--version', '-v'].includes(first)) {
    return ['up', ...args]
  }
  return args
}
