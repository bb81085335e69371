# Times one bare level (bare-level.sh) started by the engine of the level this runs in: from
# `docker run` until the new engine answers /_ping on its socket. Prints the milliseconds.
# It runs inside a level of a nest, so the execs that reach that level are not counted.
# The bare level and its folder are removed however this ends.
# Usage: sh -c "$(cat time-bare-level.sh)" time-bare-level BARE_SCRIPT NAME IMAGE [RUN FLAGS...]
# shellcheck shell=sh
set -eu

bare_script=$1
name=$2
image=$3
shift 3
dir=$(mktemp -d /tmp/inception-bare.XXXXXX)

cleanup() {
  docker rm -f -v "$name" >/dev/null 2>&1 || :
  rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

started=$(date +%s%N)
docker run -d --name "$name" "$@" -v "$dir:/bare" --entrypoint sh "$image" -c "$bare_script" bare-level /bare >/dev/null
# The wait is a loop in one perl process (perl-base is in every Debian /usr): a docker CLI run
# per try would take the processor from the engine being timed, and only polls every 50 ms or so.
# A connection made before the engine serves its API waits in the socket's backlog until it
# does, so the answer's moment is the engine's. Sleeps are select's (Time::HiRes is not in perl-base).
if ! perl -MIO::Socket::UNIX -e '
  my ($socket) = @ARGV;
  alarm 60;
  while (1) {
    if (my $engine = IO::Socket::UNIX->new(Peer => $socket)) {
      print $engine "GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n";
      my $status = <$engine>;
      exit 0 if defined $status && $status =~ m{^HTTP/1\.[01] 200 };
    }
    select(undef, undef, undef, 0.01);
  }
' "$dir/docker.sock"; then
  echo "the bare level did not answer within 60 s; its log ends:" >&2
  tail -n 5 "$dir/bare.log" >&2 2>/dev/null || :
  exit 1
fi
ended=$(date +%s%N)
echo $(((ended - started) / 1000000))
