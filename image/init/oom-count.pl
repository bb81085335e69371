# Counts the OOM kills the kernel makes because this level's memory budget ran out, and keeps the
# count in a file of the board (cgroup v1; `ps` reads it). cgroup v1 counts a kill only in the
# victim's own cgroup (memory.oom_control's oom_kill: a container's, gone with it), never in the
# level's, where the budget is. It does notify an eventfd registered on the level's
# memory.oom_control each time the level's memory runs out, but more often than it kills (each
# allocation that fails while the victim is dying notifies again: four for one kill, seen), and
# it notifies every cgroup below the one whose limit was reached too (a parent level's OOM wakes
# this counter). So a notification only says when to look: when the level's own memory reached
# its limit (its high-water mark, which the counter then resets: memory.failcnt would say it more
# directly, but this kernel left it at 0 in the cgroups Docker makes, seen), this counter reads
# the oom_kill of every cgroup under the level and adds what rose since it last looked, and looks
# again for two seconds after (the kill comes after its notification), every 5 ms for the first
# half second. Kills under a deeper level's own budget
# come with no notification here and are that level's to count: while no notification comes, it
# looks every few seconds without counting, so that they are not taken for this level's later. A shell cannot make an eventfd; perl-base, Essential in Debian, can (by system call
# number: perl-base has no syscall.ph).
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

# Every cgroup under the level (the level's own included), with its oom_kill.
sub kills {
  my %seen;
  my @dirs = ($cgroup);
  while (defined(my $dir = shift @dirs)) {
    if (open(my $control, '<', "$dir/memory.oom_control")) {
      while (<$control>) { $seen{$dir} = $1 if /^oom_kill (\d+)/ }
    }
    opendir(my $handle, $dir) or next;
    push @dirs, map { "$dir/$_" } grep { !/^\./ && -d "$dir/$_" } readdir($handle);
  }
  return \%seen;
}

open(my $control, '<', "$cgroup/memory.oom_control") or die "oom-count: cannot open $cgroup/memory.oom_control: $!\n";
my $eventfd = syscall($number, 0, 0);
die "oom-count: eventfd2: $!\n" if $eventfd < 0;
open(my $register, '>', "$cgroup/cgroup.event_control") or die "oom-count: cannot open $cgroup/cgroup.event_control: $!\n";
print {$register} "$eventfd " . fileno($control) . "\n";
close($register) or die "oom-count: cannot register with $cgroup/cgroup.event_control: $!\n";
open(my $events, '<&=', $eventfd) or die "oom-count: eventfd: $!\n";

sub number {
  my ($file) = @_;
  open(my $handle, '<', $file) or return undef;
  my $value = <$handle>;
  return defined($value) && $value =~ /^(\d+)/ ? $1 : undef;
}

# Whether this level's memory (or memory and swap) reached its own limit since the last look
# (within a megabyte: charges come in batches); the high-water marks start again from here.
sub reached_limit {
  my $reached = 0;
  for my $counter ('memory', 'memory.memsw') {
    my ($peak, $limit) = (number("$cgroup/$counter.max_usage_in_bytes"), number("$cgroup/$counter.limit_in_bytes"));
    $reached = 1 if defined($peak) && defined($limit) && $peak + 2**20 >= $limit;
    if (open(my $reset, '>', "$cgroup/$counter.max_usage_in_bytes")) { print {$reset} "0\n"; close($reset) }
  }
  return $reached;
}

my $count = 0;
my $last = kills();
reached_limit();
my $looking_until = 0;
# Looks left at a short interval after this level's limit was reached: the victim's count is in
# its own cgroup, which goes as soon as its container is removed (`docker run --rm` removes it some
# tens of milliseconds after the kill), so the first half second is watched closely.
my $close_looks = 0;
record($count);
while (1) {
  my $bits = '';
  vec($bits, $eventfd, 1) = 1;
  # The close looks end within the window: half a second at most, and the window is a second or more.
  my $counting = $looking_until > time();
  my $wait = $close_looks > 0 ? 0.005 : $counting ? 0.1 : 5;
  $close_looks-- if $close_looks > 0;
  my $ready = select(my $readable = $bits, undef, undef, $wait);
  next if $ready < 0 && $!{EINTR};
  die "oom-count: waiting on the eventfd: $!\n" if $ready < 0;
  if ($ready > 0) {
    sysread($events, my $buffer, 8) == 8 or die "oom-count: reading the eventfd: $!\n";
    # Not this level's limit: an OOM above it, whose kills are that level's.
    if (reached_limit()) {
      $looking_until = time() + 2;
      $close_looks = 100;
      $counting = 1;
    }
  }
  my $now = kills();
  if (!$counting) {
    $last = $now;
    next;
  }
  my $rose = 0;
  for my $dir (keys %$now) { $rose += $now->{$dir} - ($last->{$dir} // 0) if $now->{$dir} > ($last->{$dir} // 0) }
  $last = $now;
  if ($rose > 0) {
    $count += $rose;
    record($count);
  }
}
