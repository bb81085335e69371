# The level contract, shell half. Generated from src/nesting/contract.ts by `npm run contract`:
# do not edit (test/unit/contract.test.ts fails when this file and the module differ).
# shellcheck shell=sh disable=SC2034 # sourced by the init, and put before the CLI's scripts for level 1 (image/cli/): each uses what it needs
# a level's own state
STATE_DIR='/run/inception'
# the nest's status board, shared by every level
BOARD_DIR='/run/inception/board'
# the daemons' TLS material, passed down read-only
TLS_DIR='/run/inception/tls'
# level K's container, one `docker run` argument a line, is PLAN_DIR/level-K.args
PLAN_DIR='/run/inception/plan'
# level K's file in the plan: <prefix>K<suffix>
PLAN_FILE_PREFIX='level-'
PLAN_FILE_SUFFIX='.args'
# the plan line the parent replaces with --cap-drop pairs (dockerd 20.10)
CAP_DROP_MARKER='@cap-drop-what-the-parent-lacks'
# level K's data root below level 1: its parent's data directory/<prefix>K
CHILD_DATA_ROOT_PREFIX='inception-level-'
# the level image in every level's engine: <repository>:INCEPTION_VERSION
INNER_IMAGE_REPOSITORY='inception-level'
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
# level K's OOM kills at its memory budget
BOARD_OOM_PREFIX='oom-'
# where level 1 of a nest with budgets mounts lxcfs, passed down to every level
LXCFS_DIR='/var/lib/lxcfs'
# the /proc files lxcfs shows each level as its budget
LXCFS_PROC_FILES='meminfo cpuinfo stat uptime swaps diskstats'
# level 1's iptables backend, which every level follows
BOARD_IPTABLES='iptables'
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
# the capability names dockerd 20.10 knows, by bit
DOCKER_20_CAPABILITIES='CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG WAKE_ALARM BLOCK_SUSPEND AUDIT_READ'
