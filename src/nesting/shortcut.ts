import {BOARD_DIR, BOARD_FILE, EXEC_MARK_VARIABLE, levelName} from './contract.js'

/**
 * The shortest way from level 1 to level K: one exec into level 1 that enters level K's
 * namespaces directly, instead of a `docker exec` at every level on the way (each hop starts a
 * docker CLI and an exec in the next engine: 0.15-0.2 s a level, measured). Level 1's PID
 * namespace holds every deeper level's processes, and level K's cgroup, seen from level 1, is
 * /docker/ID2/docker/ID3/.../docker/IDK (the ids are on the board); the one process there that is
 * PID 1 in its own namespace is level K's init. The command joins level K's cgroups and runs in
 * that init's mount, UTS, IPC, network, PID and cgroup namespaces, with its environment (as
 * `docker exec` gives the container's), and its exit status comes back through nsenter. Where the init cannot be found
 * (a level on its way up or down), the script falls back to the chain of `docker exec`s.
 *
 * Arguments: LEVEL HOP_FLAGS LEVEL_NAMES -- CMD... (HOP_FLAGS: "-i", "-i -t", "-t" or ""; LEVEL_NAMES:
 * the containers of levels 2 to K, for the fallback).
 */
export const SHORTCUT_SCRIPT = `
level=$1 hop=$2 names=$3
shift 4
cd ${BOARD_DIR} 2>/dev/null || exit 125
path="" pid="" k=2
while [ "$k" -le "$level" ]; do
  id=$(sed -n 's/^id=//p' "${BOARD_FILE.infoPrefix}$k" 2>/dev/null)
  [ -n "$id" ] || break
  path="$path/docker/$id"
  k=$((k + 1))
done
if [ "$k" -gt "$level" ]; then
  for procs in "/sys/fs/cgroup/pids$path/cgroup.procs" "/sys/fs/cgroup$path/init/cgroup.procs" "/sys/fs/cgroup$path/cgroup.procs"; do
    [ -f "$procs" ] || continue
    for p in $(cat "$procs"); do
      # PID 1 of a namespace K deep: level K's init, not a process at level K that made its own.
      if [ "$(awk '/^NSpid:/ { print NF - 1, $NF }' "/proc/$p/status" 2>/dev/null)" = "$level 1" ]; then pid=$p; break 2; fi
    done
  done
fi
if [ -n "$pid" ]; then
  # Join level K's cgroups, as docker exec would: what runs there counts there, and shows there.
  # (v1: every hierarchy; v2: the level's init cgroup, where its init moved its processes.)
  for procs in /sys/fs/cgroup/*"$path"/cgroup.procs "/sys/fs/cgroup$path/init/cgroup.procs"; do
    [ -f "$procs" ] && echo "$$" 2>/dev/null >"$procs"
  done
fi
if [ -z "$pid" ]; then
  reversed=""
  for name in $names; do reversed="$name $reversed"; done
  # The hop flags are words. The exec's mark goes down with the command, hop by hop.
  for name in $reversed; do set -- docker exec $hop -e ${EXEC_MARK_VARIABLE} "$name" "$@"; done
  exec "$@"
fi
case " $hop " in *" -t "*) tty=1 ;; *) tty= ;; esac
exec perl -e '
  my ($pid, $tty) = (shift, shift);
  sub fail { print STDERR "inception: $_[0]\\n"; exit 125 }
  open(my $f, "<", "/proc/$pid/environ") or fail("cannot read the environment of the level init $pid: $!");
  local $/; my $environ = <$f>; close($f);
  my ($term, $mark) = ($ENV{TERM}, $ENV{${EXEC_MARK_VARIABLE}});
  %ENV = map { /^([^=]*)=(.*)$/s ? ($1, $2) : () } split(/\\0/, $environ);
  delete $ENV{INCEPTION_DESCRIPTORS_CLOSED};
  $ENV{TERM} = $term if defined $term;
  $ENV{${EXEC_MARK_VARIABLE}} = $mark if defined $mark;
  # With a terminal, the command gets it as its controlling terminal in a session of its own, so
  # that Ctrl-C reaches it rather than nsenter (as each docker exec of the chain arranged).
  my @command = $tty ? ("setsid", "--ctty", "--wait", @ARGV) : @ARGV;
  exec { "nsenter" } "nsenter", "--target", $pid, "--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup", "--", @command
    or fail("nsenter: $!");
' "$pid" "$tty" "$@"
`

/** The exec into level 1 that runs CMD at level K by the shortcut. */
export function shortcutCommand(nest: string, level: number, cmd: string[], mode: {interactive: boolean; tty: boolean}): string[] {
  const hop = [...(mode.interactive ? ['-i'] : []), ...(mode.tty ? ['-t'] : [])].join(' ')
  const names = Array.from({length: level - 1}, (_, i) => levelName(nest, i + 2)).join(' ')
  return ['sh', '-c', SHORTCUT_SCRIPT, 'sh', String(level), hop, names, '--', ...cmd]
}
