#!/usr/bin/env bash
# The run command (README): a local Edge on loopback.
#
#   deploy/local.sh [start]   install what is missing, build release (build/), start a control
#                             plane on ./.run/edge.db (127.0.0.1:9090), a demo upstream
#                             (127.0.0.1:8000), two data planes (127.0.0.1:8080 and :8081,
#                             admin :9901 and :9902) when edge-dataplane is built, configure
#                             a demo API and print how to use it. Safe to run twice.
#   deploy/local.sh stop      stop what start started (PID files in .run/)
#   deploy/local.sh status    show what is running
#
# Environment: EDGE_BUILD (build dir, default build/), EDGE_NO_INSTALL=1 to skip apt.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO=$(pwd)
RUN=$REPO/.run
BUILD=${EDGE_BUILD:-build}
[[ $BUILD == /* ]] || BUILD=$REPO/$BUILD
CP_BIN=$BUILD/controlplane/edge-controlplane
DP_BIN=$BUILD/dataplane/edge-dataplane
CTL_BIN=$BUILD/cli/edgectl
CP_ADDR=127.0.0.1:9090
DB=$RUN/edge.db
TOKEN_FILE=$DB.token
UPSTREAM_PORT=8000
DP_PORTS=(8080 8081)
DP_ADMIN=(9901 9902)

say() { printf 'local.sh: %s\n' "$*"; }
die() { printf 'local.sh: %s\n' "$*" >&2; exit 1; }

# pid_alive NAME: the PID in .run/NAME.pid runs the program we started (not a recycled PID).
pid_alive() {
    local f=$RUN/$1.pid pid
    [[ -f $f && -f $RUN/$1.cmd ]] || return 1
    pid=$(<"$f")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    [[ -r /proc/$pid/cmdline ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$(<"$RUN/$1.cmd")"
}

port_busy() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# start_bg NAME MATCH CMD...: runs CMD in the background, its output in .run/NAME.log.
start_bg() {
    local name=$1 match=$2
    shift 2
    printf '%s' "$match" >"$RUN/$name.cmd"
    nohup setsid "$@" </dev/null >>"$RUN/$name.log" 2>&1 &
    echo $! >"$RUN/$name.pid"
}

stop_one() {
    local name=$1 pid i
    if pid_alive "$name"; then
        pid=$(<"$RUN/$name.pid")
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            say "$name (pid $pid) did not stop on SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        say "stopped $name (pid $pid)"
    fi
    rm -f "$RUN/$name.pid" "$RUN/$name.cmd"
}

wait_for() { # wait_for SECONDS WHAT CMD...
    local t=$1 what=$2 i
    shift 2
    for ((i = 0; i < t * 10; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    die "timed out after ${t}s waiting for $what"
}

ctl() { "$CTL_BIN" --server "$CP_ADDR" --token-file "$TOKEN_FILE" "$@"; }

cmd_stop() {
    local i
    for ((i = ${#DP_PORTS[@]} - 1; i >= 0; i--)); do
        stop_one "dataplane-$((i + 1))"
    done
    stop_one upstream
    stop_one controlplane
}

cmd_status() {
    local n
    for n in controlplane upstream dataplane-1 dataplane-2; do
        if pid_alive "$n"; then
            echo "$n: running (pid $(<"$RUN/$n.pid"), log .run/$n.log)"
        else
            echo "$n: not running"
        fi
    done
}

configure_demo() {
    if ! ctl upstream get demo-upstream >/dev/null 2>&1; then
        ctl upstream create demo-upstream --target "127.0.0.1:$UPSTREAM_PORT" >/dev/null
    fi
    if ! ctl api get demo >/dev/null 2>&1; then
        ctl api create demo --description "deploy/local.sh demo" >/dev/null
    fi
    if ! ctl -o json route list demo |
        /usr/bin/python3 -c 'import json, sys; sys.exit(0 if json.load(sys.stdin) else 1)'; then
        ctl route create demo --method GET --path /hello --upstream demo-upstream >/dev/null
        ctl route create demo --method ANY --path '/{proxy+}' --upstream demo-upstream \
            >/dev/null
    fi
    if ! ctl stage get demo prod >/dev/null 2>&1; then
        ctl deploy demo --stage prod --description "deploy/local.sh" >/dev/null
    fi
}

cmd_start() {
    mkdir -p "$RUN"
    if [[ ${EDGE_NO_INSTALL:-0} != 1 ]]; then
        bash "$REPO/deploy/install-packages.sh"
    fi
    if [[ ! -f $BUILD/build.ninja ]]; then
        meson setup "$BUILD" "$REPO" --buildtype=release
    fi
    # Only the binaries (not the tests); the data plane is optional while it is being written.
    ninja -C "$BUILD" controlplane/edge-controlplane cli/edgectl >"$RUN/build.log" 2>&1 || {
        tail -30 "$RUN/build.log" >&2
        die "build failed (full log: .run/build.log)"
    }
    local dp_ok=0
    if ninja -C "$BUILD" -t targets all 2>/dev/null | grep -q '^dataplane/edge-dataplane:'; then
        if ninja -C "$BUILD" dataplane/edge-dataplane >>"$RUN/build.log" 2>&1; then
            dp_ok=1
        else
            say "edge-dataplane does not build (see .run/build.log): control plane only"
        fi
    fi

    if pid_alive controlplane; then
        say "control plane already running (pid $(<"$RUN/controlplane.pid"))"
    else
        port_busy 9090 && die "127.0.0.1:9090 is taken by another program"
        start_bg controlplane "$CP_BIN" "$CP_BIN" --db "$DB" --listen "$CP_ADDR"
        wait_for 15 "the control plane on $CP_ADDR" \
            bash -c "[[ -s '$TOKEN_FILE' ]] && '$CTL_BIN' --server $CP_ADDR --token-file '$TOKEN_FILE' status"
        say "control plane on $CP_ADDR (log .run/controlplane.log)"
    fi

    if pid_alive upstream; then
        say "demo upstream already running"
    else
        port_busy "$UPSTREAM_PORT" && die "127.0.0.1:$UPSTREAM_PORT is taken by another program"
        start_bg upstream demo_upstream.py /usr/bin/python3 "$REPO/deploy/demo_upstream.py" \
            --port "$UPSTREAM_PORT"
        wait_for 10 "the demo upstream" curl -sf "http://127.0.0.1:$UPSTREAM_PORT/hello"
        say "demo upstream on 127.0.0.1:$UPSTREAM_PORT"
    fi

    configure_demo
    say "demo API configured (api demo, stage prod)"

    local have_dp=0 i name
    if ((dp_ok)) && [[ -x $DP_BIN ]]; then
        have_dp=1
        for i in "${!DP_PORTS[@]}"; do
            name=dataplane-$((i + 1))
            if pid_alive "$name"; then
                say "$name already running"
                continue
            fi
            port_busy "${DP_PORTS[$i]}" && die "127.0.0.1:${DP_PORTS[$i]} is taken"
            port_busy "${DP_ADMIN[$i]}" && die "127.0.0.1:${DP_ADMIN[$i]} is taken"
            mkdir -p "$RUN/$name"
            start_bg "$name" "$DP_BIN" "$DP_BIN" --control-plane "$CP_ADDR" \
                --listen "127.0.0.1:${DP_PORTS[$i]}" --admin "127.0.0.1:${DP_ADMIN[$i]}" \
                --cache-dir "$RUN/$name" --node-id "local-$((i + 1))"
        done
        for i in "${!DP_PORTS[@]}"; do
            wait_for 15 "data plane $((i + 1)) to be ready" \
                curl -sf "http://127.0.0.1:${DP_ADMIN[$i]}/ready"
            wait_for 15 "data plane $((i + 1)) to serve the demo" \
                curl -sf "http://127.0.0.1:${DP_PORTS[$i]}/demo/prod/hello"
            say "data plane $((i + 1)) on 127.0.0.1:${DP_PORTS[$i]} (admin ${DP_ADMIN[$i]})"
        done
    else
        say "edge-dataplane is not built ($DP_BIN): control plane only"
    fi

    cat <<EOF

Edge is running (state in .run/; stop it with: deploy/local.sh stop)

  export EDGE_SERVER=$CP_ADDR
  export EDGE_TOKEN=\$(cat $TOKEN_FILE)
  $CTL_BIN api list
  $CTL_BIN route list demo
  $CTL_BIN node list
EOF
    if ((have_dp)); then
        cat <<EOF

  curl http://127.0.0.1:8080/demo/prod/hello
  curl http://127.0.0.1:8081/demo/prod/anything/else
  curl http://127.0.0.1:9901/metrics
EOF
    fi
}

case ${1:-start} in
start) cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
-h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' ;;
*) die "usage: deploy/local.sh [start|stop|status]" ;;
esac
