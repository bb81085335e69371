# Counts the OOM kills the kernel makes because this level's memory budget ran out, and keeps the
# count in a file of the board (cgroup v1; `ps` reads it). cgroup v1 counts a kill only at the
# victim's own cgroup (a container's, gone with it) and never at the level's, where the budget is;
# but it notifies an eventfd registered on the level's memory.oom_control each time the level's
# memory runs out, and each time the kernel then kills one process. A shell cannot make an
# eventfd; perl-base, Essential in Debian, can (syscall by number: perl-base has no syscall.ph).
# Usage: perl oom-count.pl MEMORY_CGROUP_DIR COUNT_FILE
use strict;
use warnings;
use Config;

my ($cgroup, $out) = @ARGV;
my %eventfd2 = (x86_64 => 290, aarch64 => 19, arm => 356, i386 => 328, i686 => 328);
my ($arch) = $Config{archname} =~ /^([^-]+)/;
my $number = $eventfd2{$arch} // die "oom-count: no eventfd2 system call number for $arch\n";

sub record {
  my ($count) = @_;
  open(my $file, '>', "$out.tmp") or die "oom-count: cannot write $out.tmp: $!\n";
  print {$file} "$count\n";
  close($file) or die "oom-count: cannot write $out.tmp: $!\n";
  rename("$out.tmp", $out) or die "oom-count: cannot rename $out.tmp: $!\n";
}

open(my $control, '<', "$cgroup/memory.oom_control") or die "oom-count: cannot open $cgroup/memory.oom_control: $!\n";
my $eventfd = syscall($number, 0, 0);
die "oom-count: eventfd2: $!\n" if $eventfd < 0;
open(my $register, '>', "$cgroup/cgroup.event_control") or die "oom-count: cannot open $cgroup/cgroup.event_control: $!\n";
print {$register} "$eventfd " . fileno($control) . "\n";
close($register) or die "oom-count: cannot register with $cgroup/cgroup.event_control: $!\n";
open(my $events, '<&=', $eventfd) or die "oom-count: eventfd: $!\n";
my $count = 0;
record($count);
# Each read returns how many notifications came since the last one, as 8 bytes.
while (sysread($events, my $buffer, 8) == 8) {
  $count += unpack('Q', $buffer);
  record($count);
}
die "oom-count: reading the eventfd: $!\n";
