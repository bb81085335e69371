# The init's network steps, what only a level can decide at run time: the iptables backend, the
# MTU when none is asked for (its uplink's), and whether ip6tables works. Its bridge and pool
# come rendered in INCEPTION_DOCKERD_OPTIONS. Sourced by init.sh.
# shellcheck shell=sh
# shellcheck disable=SC3043 # local: the image's /bin/sh is dash, which has it

# Debian's iptables defaults to the nf_tables backend; some kernels only have the legacy one.
# Which iptables backend the levels use. Every level shares one kernel, so level 1 decides, as
# the official dind entrypoint does: legacy when the kernel already holds legacy tables (rules
# made through the two backends would not see each other), else nf_tables when it works, else
# legacy. Deeper levels read the decision from the board (BOARD_IPTABLES), which every level
# shares. /etc is the level's own (not the shared read-only /usr), so the alternatives link can
# be switched.
PROC_NET=$PROC/net
IPTABLES=

legacy_tables_loaded() {
  local table
  for table in "$PROC_NET/ip_tables_names" "$PROC_NET/ip6_tables_names" "$PROC_NET/arp_tables_names"; do
    [ -s "$table" ] && return 0
  done
  return 1
}

decide_iptables() {
  if legacy_tables_loaded; then echo legacy
  elif iptables-nft -nL >/dev/null 2>&1; then echo nft
  else echo legacy
  fi
}

choose_iptables() {
  IPTABLES=$(cat "$BOARD_DIR/$BOARD_IPTABLES" 2>/dev/null || :)
  if [ -z "$IPTABLES" ]; then
    IPTABLES=$(decide_iptables)
    printf '%s\n' "$IPTABLES" >"$BOARD_DIR/$BOARD_IPTABLES" || fail "cannot write the iptables backend on the board"
    log "iptables: the $IPTABLES backend, for every level"
  fi
  update-alternatives --quiet --set iptables "/usr/sbin/iptables-$IPTABLES" ||
    fail "cannot switch iptables to the $IPTABLES backend (update-alternatives failed; see the log above)"
  update-alternatives --quiet --set ip6tables "/usr/sbin/ip6tables-$IPTABLES" 2>/dev/null || :
  # Engines from 27 on manage IPv6 rules too and will not start without a working ip6tables;
  # where the kernel offers none, the level starts without them and says so.
  IP6TABLES_OPTION=
  if ! ip6tables -nL >/dev/null 2>&1; then
    log "ip6tables does not work here: this level's dockerd runs without IPv6 rules"
    IP6TABLES_OPTION=--ip6tables=false
  fi
}

# The MTU of this level's networks: the one asked for, else the uplink's (the interface of the
# default route). A level on a 1400 network whose dockerd assumed 1500 would lose every packet
# larger than 1400 beyond it; each level's uplink is its parent's bridge, so the MTU found at
# level 1 goes down the whole nest.
SYS_NET=${INCEPTION_SYS_NET:-/sys/class/net}

uplink_mtu() {
  local uplink
  uplink=$(busybox ip route show default 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')
  [ -n "$uplink" ] && cat "$SYS_NET/$uplink/mtu" 2>/dev/null
}

choose_mtu() {
  MTU=${INCEPTION_MTU:-$(uplink_mtu || :)}
  [ -n "$MTU" ] || MTU=1500
}

# The daemon options only this level can decide: the MTU of its networks, and ip6tables off where
# it does not work. dockerd 20.10 has no default network options, so there networks that users
# create keep 1500 (the bookworm suite only).
network_options() {
  echo "--mtu=$MTU"
  if [ "$DOCKERD_MAJOR" -ge 24 ]; then
    echo "--default-network-opt=bridge=com.docker.network.driver.mtu=$MTU"
  fi
  [ -z "$IP6TABLES_OPTION" ] || echo "$IP6TABLES_OPTION"
}
