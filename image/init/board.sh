# What `inception ps` shows of this level, on the board next to its state: key=value lines,
# written once the level is ready. Sourced by init.sh.
# shellcheck shell=sh
# shellcheck disable=SC3043 # local: the image's /bin/sh is dash, which has it

publish_level_info() {
  local id
  id=$(grep -o 'containers/[0-9a-f]\{64\}' "$PROC/self/mountinfo" | head -n 1 | cut -d/ -f2)
  {
    printf 'id=%s\n' "$id"
    printf 'hostname=%s\n' "$(hostname)"
    printf 'dockerd=%s\n' "$DOCKERD_VERSION"
    printf 'storage=%s\n' "$STORAGE_DRIVER"
    printf 'privilege=%s\n' "$INCEPTION_PRIVILEGE_USED"
    # The bridge as the kernel has it, not as planned: ps shows what is, and a difference shows.
    printf 'bridge=%s\n' "$(busybox ip -4 addr show docker0 2>/dev/null | awk '$1 == "inet" { print $2; exit }')"
    printf 'mtu=%s\n' "$MTU"
    printf 'iptables=%s\n' "$IPTABLES"
    printf 'capeff=%s\n' "$(awk '/^CapEff:/ { print $2 }' "$PROC/1/status")"
    registry_info
  } >"$BOARD_DIR/.$BOARD_INFO_PREFIX$INCEPTION_LEVEL.tmp" || fail "cannot write this level's details on the board"
  mv -f "$BOARD_DIR/.$BOARD_INFO_PREFIX$INCEPTION_LEVEL.tmp" "$BOARD_DIR/$BOARD_INFO_PREFIX$INCEPTION_LEVEL" ||
    fail "cannot write this level's details on the board"
}

# The registry settings as this level's engine reports them, for `ps`: read back, not repeated from
# the plan. Only when the nest has any (a docker CLI run costs some 50 ms a level). docker info
# reports insecure registries given as CIDRs only in a form its templates cannot compare: ps shows
# registries given by name.
registry_info() {
  case " $INCEPTION_DOCKERD_OPTIONS " in
    *" --registry-mirror="* | *" --insecure-registry="* | *" --dns="*) ;;
    *) [ -n "$INCEPTION_HTTP_PROXY$INCEPTION_NO_PROXY$INCEPTION_CA_CERTS" ] || return 0 ;;
  esac
  docker info --format 'mirrors={{range .RegistryConfig.Mirrors}}{{.}} {{end}}
insecure={{range $name, $index := .RegistryConfig.IndexConfigs}}{{if not $index.Secure}}{{$name}} {{end}}{{end}}
proxy={{.HTTPProxy}}
noproxy={{.NoProxy}}' 2>/dev/null || :
  # What docker info does not say: the DNS servers, from the running dockerd's own arguments, and
  # how many CA certificates it was pointed at.
  printf 'dns=%s\n' "$(tr '\0' '\n' <"$PROC/$(job_pid dockerd)/cmdline" 2>/dev/null | sed -n 's/^--dns=//p' | tr '\n' ' ')"
  printf 'cacerts=%s\n' "$(grep -c 'BEGIN CERTIFICATE' "$STATE_DIR/ca-certs/inception.pem" 2>/dev/null || echo 0)"
}

