# The level contract, shell half. Generated from src/nesting/contract.ts by `npm run contract`:
# do not edit (test/unit/contract.test.ts fails when this file and the module differ).
# shellcheck shell=sh disable=SC2034 # sourced by the init, and put before the CLI's scripts for level 1 (image/cli/): each uses what it needs
# a level's own state
STATE_DIR='/run/inception'
# the nest's status board, shared by every level
BOARD_DIR='/run/inception/board'
# the daemons' TLS material, passed down read-only
TLS_DIR='/run/inception/tls'
# level K's state line is BOARD_DIR/BOARD_STATE_PREFIX<K>
BOARD_STATE_PREFIX='level-'
# level K's key=value details
BOARD_INFO_PREFIX='info-'
# what the demo page shows of the host
BOARD_HOST='host'
# present while the demo's dream collapses
BOARD_COLLAPSING='collapsing'
# what the demo page was last served: "COLLAPSING GOING"
BOARD_PAGE_SEEN='page-seen'
# labels on every level container
LABEL_NEST='io.inception.nest'
LABEL_LEVEL='io.inception.level'
LABEL_VERSION='io.inception.version'
# level K's container: NEST<infix>K
LEVEL_NAME_INFIX='-l'
# the variable that marks an exec's processes, down every hop
EXEC_MARK_VARIABLE='INCEPTION_EXEC'
# the image seed's folder in INCEPTION_LIB: one tar per storage driver
SEED_DIR_NAME='data-root-seed'
# level K's engine listens on base + K (--expose-daemons)
DAEMON_INNER_PORT_BASE='23750'
# the size of each network carved from a level's pool
POOL_NETWORK_PREFIX='26'
# the caps mode: security options beyond capabilities
CAPS_SECURITY='seccomp=unconfined apparmor=unconfined systempaths=unconfined devices=all'
# the capability names dockerd 20.10 knows, by bit
DOCKER_20_CAPABILITIES='CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ'
