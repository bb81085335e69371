# The shortest way from level 1 to level K (src/nesting/shortcut.ts, SHORTCUT_SCRIPT), run in
# level 1: the command joins level K's cgroups and runs in the namespaces of level K's init
# (mount, UTS, IPC, network, PID and cgroup), with its environment, as `docker exec` gives the
# container's; its exit status comes back through nsenter. Where the init cannot be found (a level
# on its way up or down), the chain of `docker exec`s instead. The contract's shell half and
# cgroups.sh come first.
#
# Arguments: LEVEL HOP_FLAGS LEVEL_NAMES -- CMD... (HOP_FLAGS: "-i", "-i -t", "-t" or "";
# LEVEL_NAMES: the containers of levels 2 to K, for the chain).
# shellcheck shell=sh

level=$1 hop=$2 names=$3
shift 4
cd "$BOARD_DIR" 2>/dev/null || exit 125
pid=""
cgroup=$(level_cgroups "$level" | sed -n "s/^$level //p")
[ -n "$cgroup" ] && pid=$(level_init "$cgroup" "$level")
if [ -z "$pid" ]; then
  reversed=""
  for name in $names; do reversed="$name $reversed"; done
  # The hop flags are words. The exec's mark goes down with the command, hop by hop.
  # shellcheck disable=SC2086
  for name in $reversed; do set -- docker exec $hop -e "$EXEC_MARK_VARIABLE" "$name" "$@"; done
  exec "$@"
fi
join_level_cgroup "$cgroup"
case " $hop " in *" -t "*) tty=1 ;; *) tty= ;; esac
# shellcheck disable=SC2016 # perl's own variables
exec perl -e '
  my ($pid, $tty, $mark_variable) = (shift, shift, shift);
  sub fail { print STDERR "inception: $_[0]\n"; exit 125 }
  open(my $f, "<", "/proc/$pid/environ") or fail("cannot read the environment of the level init $pid: $!");
  local $/; my $environ = <$f>; close($f);
  my ($term, $mark) = ($ENV{TERM}, $ENV{$mark_variable});
  %ENV = map { /^([^=]*)=(.*)$/s ? ($1, $2) : () } split(/\0/, $environ);
  delete $ENV{INCEPTION_DESCRIPTORS_CLOSED};
  $ENV{TERM} = $term if defined $term;
  $ENV{$mark_variable} = $mark if defined $mark;
  # With a terminal, the command gets it as its controlling terminal in a session of its own, so
  # that Ctrl-C reaches it rather than nsenter (as each docker exec of the chain arranged).
  my @command = $tty ? ("setsid", "--ctty", "--wait", @ARGV) : @ARGV;
  exec { "nsenter" } "nsenter", "--target", $pid, "--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup", "--", @command
    or fail("nsenter: $!");
' "$pid" "$tty" "$EXEC_MARK_VARIABLE" "$@"
