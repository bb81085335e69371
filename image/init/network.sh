# The init's network steps: the iptables backend, the MTU, and the daemon options for this
# level's networks (its bridge and its pool, from the plan's per-level lists). Sourced by init.sh.
# shellcheck shell=sh

# Debian's iptables defaults to the nf_tables backend; some kernels only have the legacy one.
# Which iptables backend the levels use. Every level shares one kernel, so level 1 decides, as
# the official dind entrypoint does: legacy when the kernel already holds legacy tables (rules
# made through the two backends would not see each other), else nf_tables when it works, else
# legacy. Deeper levels get the decision in INCEPTION_IPTABLES (passed on with every INCEPTION_
# variable). /etc is the level's own (not the shared read-only /usr), so the alternatives link
# can be switched.
PROC_NET=$PROC/net

legacy_tables_loaded() {
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
  if [ -z "$INCEPTION_IPTABLES" ]; then
    INCEPTION_IPTABLES=$(decide_iptables)
    export INCEPTION_IPTABLES
    log "iptables: the $INCEPTION_IPTABLES backend, for every level"
  fi
  update-alternatives --quiet --set iptables "/usr/sbin/iptables-$INCEPTION_IPTABLES"
  update-alternatives --quiet --set ip6tables "/usr/sbin/ip6tables-$INCEPTION_IPTABLES" 2>/dev/null || :
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
  uplink=$(busybox ip route show default 2>/dev/null | awk '{ for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit } }')
  [ -n "$uplink" ] && cat "$SYS_NET/$uplink/mtu" 2>/dev/null
}

choose_mtu() {
  MTU=${INCEPTION_MTU:-$(uplink_mtu || :)}
  [ -n "$MTU" ] || MTU=1500
}

# The daemon options for this level's networks: its bridge, its pool for users' networks, and
# the MTU of both. dockerd 20.10 has no default network options, so there networks that users
# create keep 1500 (the bookworm suite only).
network_options() {
  bip=$(bridge_for_level)
  [ -n "$bip" ] && echo "--bip=$bip"
  pool=$(nth_for_level "$INCEPTION_POOLS")
  [ -n "$pool" ] && echo "--default-address-pool=base=$pool,size=$POOL_NETWORK_PREFIX"
  echo "--mtu=$MTU"
  if [ "$DOCKERD_MAJOR" -ge 24 ]; then
    echo "--default-network-opt=bridge=com.docker.network.driver.mtu=$MTU"
  fi
  [ -z "$IP6TABLES_OPTION" ] || echo "$IP6TABLES_OPTION"
}

# The bridge this level's engine uses, from the plan (one per level, all different): every
# dockerd otherwise picks the first free /16 it can see, so levels collide and a chained port
# routes its replies to the wrong bridge.
bridge_for_level() {
  nth_for_level "$INCEPTION_BRIDGES"
}
