#!/usr/bin/env bash
# Edge vs nginx vs HAProxy as plain reverse proxies in front of one fixed-response backend, and
# Edge and nginx again with API-key auth + throttling on (edge-keys, nginx-keys).
#
# One worker each, upstream keep-alive for all, wrk with 64 connections pinned to core 0, the
# proxies and the backend pinned to core 1, interleaved rounds in rotated order, medians across
# rounds. See tests/bench/README.md for what is measured and how to read it.
#
#   tests/bench/run.sh [--rounds N] [--duration S] [--quick] [--json PATH] [--connections N]
#                      [--only edge,edge-keys,nginx,nginx-keys,haproxy] [--idle-conns N]
#                      [--keep-tmp]
#
# Environment: EDGE_BUILD (default: build/ under the repo root) holds edge-dataplane,
# edge-controlplane and edgectl. Everything listens on 127.0.0.1 ephemeral ports; every
# process started here is stopped by PID on exit, even on failure or Ctrl-C.
# PID lists are passed unquoted on purpose: they are space-separated numbers.
# shellcheck disable=SC2046,SC2207
set -uo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/../.." && pwd)
EDGE_BUILD=${EDGE_BUILD:-$REPO_ROOT/build}
PY=/usr/bin/python3

ROUNDS=5
DURATION=10
CONNS=64
IDLE_CONNS=1000
ALL_PROXIES=(edge edge-keys nginx nginx-keys haproxy)
ONLY=$(IFS=,; echo "${ALL_PROXIES[*]}")
JSON_OUT=
KEEP_TMP=0
WARMUP=2
BENCH_PATH=/bench/prod/hello

usage() {
    sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
    exit "${1:-2}"
}

while [ $# -gt 0 ]; do
    case $1 in
    --rounds) ROUNDS=${2:?}; shift 2 ;;
    --duration) DURATION=${2:?}; shift 2 ;;
    --quick) ROUNDS=2; DURATION=3; WARMUP=1; shift ;;
    --only) ONLY=${2:?}; shift 2 ;;
    --json) JSON_OUT=${2:?}; shift 2 ;;
    --connections) CONNS=${2:?}; shift 2 ;;
    --idle-conns) IDLE_CONNS=${2:?}; shift 2 ;;
    --keep-tmp) KEEP_TMP=1; shift ;;
    -h | --help) usage 0 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; usage 2 ;;
    esac
done
for n in "$ROUNDS" "$DURATION" "$CONNS" "$IDLE_CONNS"; do
    case $n in '' | *[!0-9]* | 0) echo "run.sh: numeric options must be positive integers" >&2; exit 2 ;; esac
done
if [ "$ROUNDS" -gt 50 ] || [ "$DURATION" -gt 120 ]; then
    echo "run.sh: at most 50 rounds of 120 s (this machine is shared)" >&2
    exit 2
fi
WANT=()
IFS=, read -r -a _only <<<"$ONLY"
for p in "${_only[@]}"; do
    case $p in
    edge | edge-keys | nginx | nginx-keys | haproxy) WANT+=("$p") ;;
    *) echo "run.sh: --only takes $(IFS=,; echo "${ALL_PROXIES[*]}") (got '$p')" >&2; exit 2 ;;
    esac
done

for tool in wrk taskset cc curl "$PY"; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is required" >&2; exit 1; }
done

if [ "$(nproc)" -ge 2 ]; then
    PIN_CLIENT=(taskset -c 0)
    PIN_SERVER=(taskset -c 1)
    SERVER_CORE=1
    PINNING="client core 0, proxy + backend core 1"
else
    echo "run.sh: warning: fewer than 2 cores, everything shares core 0" >&2
    PIN_CLIENT=(taskset -c 0)
    PIN_SERVER=(taskset -c 0)
    SERVER_CORE=0
    PINNING="everything on core 0 (single core)"
fi

TMP=$(mktemp -d /tmp/edge-bench.XXXXXX)
chmod 755 "$TMP" # nginx workers drop to nobody and must reach their temp paths
MAIN_PIDS=()     # stopped first, in reverse order of start
EXTRA_PIDS=()    # children we know of (nginx workers): killed only if they outlive their parent

cleanup() {
    local rc=$? pid i deadline
    trap - EXIT INT TERM
    for ((i = ${#MAIN_PIDS[@]} - 1; i >= 0; i--)); do
        kill -TERM "${MAIN_PIDS[i]}" 2>/dev/null
    done
    deadline=$((SECONDS + 5))
    for pid in "${MAIN_PIDS[@]}" "${EXTRA_PIDS[@]}"; do
        while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
    done
    wait 2>/dev/null
    if [ "$KEEP_TMP" = 1 ] || [ $rc -ne 0 ]; then
        echo "logs and raw records kept in $TMP" >&2
    else
        rm -rf "$TMP"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

# One line, tabs and newlines flattened, bounded: reasons end up in a TSV and a table.
one_line() { tr '\t\n' '  ' | cut -c1-300; }

# A port below the kernel's ephemeral range that binds now and was not handed out before in
# this run (two port-0 binds in a row can return the same port).
USED_PORTS=" "
# free_port VAR sets VAR (not $(free_port): a subshell would forget what it handed out).
free_port() {
    local _fp
    while :; do
        _fp=$((12000 + RANDOM % 20000))
        case $USED_PORTS in *" $_fp "*) continue ;; esac
        if "$PY" -c 'import socket, sys; socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' \
            "$_fp" 2>/dev/null; then
            USED_PORTS="$USED_PORTS$_fp "
            printf -v "$1" '%s' "$_fp"
            return
        fi
    done
}

# start_bg NAME CMD...: starts CMD in the background, logs to $TMP/NAME.log, sets LAST_PID.
start_bg() {
    local name=$1
    shift
    "$@" >"$TMP/$name.log" 2>&1 &
    LAST_PID=$!
    MAIN_PIDS+=("$LAST_PID")
}

wait_listen() { # PORT TIMEOUT_S
    local deadline=$((SECONDS + $2))
    while [ $SECONDS -lt $deadline ]; do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# The API key that every request of the run carries (wrk and the checks), to every proxy: the
# plain ones ignore it, edge-keys and nginx-keys require it. 43 URL-safe characters.
BENCH_KEY=ek_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | cut -c1-40)
KEY_HDR="x-api-key: $BENCH_KEY"

http_code() { # URL [curl args]
    local url=$1
    shift
    curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$url"
}

wait_http_200() { # URL TIMEOUT_S [PID: give up as soon as it has exited]
    local deadline=$((SECONDS + $2)) code=
    while [ $SECONDS -lt $deadline ]; do
        code=$(http_code "$1" -H "$KEY_HDR")
        [ "$code" = 200 ] && return 0
        if [ -n "${3:-}" ] && ! kill -0 "$3" 2>/dev/null; then
            code="$code, process exited"
            break
        fi
        sleep 0.2
    done
    LAST_CODE=$code
    return 1
}

check_body() { # URL: a 200 is not enough, the proxy must pass the backend's body through
    local got want
    got=$(curl -s --max-time 2 -H "$KEY_HDR" "$1" | md5sum)
    want=$(curl -s --max-time 2 "http://127.0.0.1:$BACKEND_PORT/" | md5sum)
    [ "$got" = "$want" ]
}

# Children of PID, by scanning /proc (this kernel has no /proc/PID/task/*/children).
children_of() {
    local f line rest
    for f in /proc/[0-9]*/stat; do
        read -r line <"$f" 2>/dev/null || continue
        rest=${line##*) }
        set -- $rest # $1 state, $2 ppid
        [ "$2" = "$PARENT" ] && echo "${f//[!0-9]/}"
    done
}

declare -A STATUS REASON PORT MAIN_PID RSS_START
proxy_pids() {
    local pid=${MAIN_PID[$1]}
    if [ "$1" = nginx ] || [ "$1" = nginx-keys ]; then
        PARENT=$pid
        echo "$pid" $(children_of)
    else
        echo "$pid"
    fi
}

# Sum of utime + stime (clock ticks) of the processes, all threads included.
cpu_ticks() {
    local pid line rest total=0
    for pid in "$@"; do
        read -r line <"/proc/$pid/stat" 2>/dev/null || continue
        rest=${line##*) }
        set -- $rest
        total=$((total + ${12} + ${13}))
    done
    echo $total
}

rss_kib() {
    local pid total=0 v
    for pid in "$@"; do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
        total=$((total + ${v:-0}))
    done
    echo $total
}

# Busy clock ticks of one CPU (user nice system irq softirq steal) from /proc/stat.
core_busy_ticks() {
    awk -v cpu="cpu$1" '$1 == cpu { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

backend_accepts() {
    curl -s --max-time 2 "http://127.0.0.1:$BACKEND_PORT/__bench/stats" |
        sed -n 's/.*"accepted":\([0-9]*\).*/\1/p'
}

set_status() { # PROXY STATUS REASON
    STATUS[$1]=$2
    REASON[$1]=$(printf '%s' "$3" | one_line)
    [ "$2" = ok ] || log "$1: $2 (${REASON[$1]})"
}

# ---------------------------------------------------------------------------------------------
# The backend

log "building the backend"
if ! cc -O2 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -o "$TMP/backend" \
    "$BENCH_DIR/backend.c" -lev 2>"$TMP/backend-build.log"; then
    cat "$TMP/backend-build.log" >&2
    exit 1
fi
start_bg backend "${PIN_SERVER[@]}" "$TMP/backend"
BACKEND_PID=$LAST_PID
for _ in $(seq 50); do
    BACKEND_PORT=$(sed -n 's/^port \([0-9]*\)$/\1/p' "$TMP/backend.log")
    [ -n "$BACKEND_PORT" ] && break
    sleep 0.1
done
if [ -z "${BACKEND_PORT:-}" ] || ! wait_http_200 "http://127.0.0.1:$BACKEND_PORT/" 5 "$BACKEND_PID"; then
    echo "run.sh: the backend did not start:" >&2
    cat "$TMP/backend.log" >&2
    exit 1
fi
log "backend on 127.0.0.1:$BACKEND_PORT (pid $BACKEND_PID)"

# ---------------------------------------------------------------------------------------------
# The proxies

# must_refuse_keyless NAME URL: a keyed variant that lets a request without the key through is
# not measuring key auth.
must_refuse_keyless() {
    local code
    code=$(http_code "$2")
    if [ "$code" != 401 ]; then
        set_status "$1" unavailable "a request without the API key got $code, not 401"
        return 1
    fi
    code=$(http_code "$2" -H "x-api-key: not-the-bench-key-0123456789")
    if [ "$code" != 401 ]; then
        set_status "$1" unavailable "a request with an unknown API key got $code, not 401"
        return 1
    fi
}

# nginx-keys: the key checked by a map (one entry, a hash lookup like Edge's) and throttled per
# key by limit_req (a shared-memory zone keyed on the key, rate and burst that never refuse).
nginx_keys_http() {
    cat <<EOF
    map \$http_x_api_key \$bench_key_ok {
        default 0;
        "$BENCH_KEY" 1;
    }
    limit_req_zone \$http_x_api_key zone=keys:10m rate=1000000r/s;
    limit_req_status 429;
EOF
}
nginx_keys_location() {
    cat <<EOF
            if (\$bench_key_ok = 0) {
                return 401;
            }
            limit_req zone=keys burst=1000000 nodelay;
EOF
}

start_nginx() { start_nginx_variant nginx 0; }
start_nginx_keys() { start_nginx_variant nginx-keys 1; }

start_nginx_variant() { # NAME KEYS(0|1)
    local name=$1 keys=$2 dir=$TMP/$1 port http_extra='' loc_extra=''
    command -v nginx >/dev/null || { set_status "$name" unavailable "nginx not installed"; return; }
    free_port port
    mkdir -p "$dir"
    if [ "$keys" = 1 ]; then
        http_extra=$(nginx_keys_http)
        loc_extra=$(nginx_keys_location)
    fi
    cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_rlimit_nofile 16384;
events {
    worker_connections 8192;
}
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    keepalive_timeout 120s;
    keepalive_requests 1000000;
    upstream backend {
        server 127.0.0.1:$BACKEND_PORT;
        keepalive 64;
        keepalive_requests 1000000;
    }
$http_extra
    server {
        listen 127.0.0.1:$port;
        location / {
$loc_extra
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
    if ! nginx -t -q -p "$dir" -c "$dir/nginx.conf" >"$dir/check.log" 2>&1; then
        set_status "$name" unavailable "config rejected: $(cat "$dir/check.log")"
        return
    fi
    start_bg "$name" "${PIN_SERVER[@]}" nginx -p "$dir" -c "$dir/nginx.conf"
    MAIN_PID[$name]=$LAST_PID
    PORT[$name]=$port
    if ! wait_http_200 "http://127.0.0.1:$port$BENCH_PATH" 10 "$LAST_PID"; then
        set_status "$name" unavailable "no 200 from it (last: ${LAST_CODE:-none}): $(tail -3 "$dir/error.log" "$TMP/$name.log" 2>/dev/null)"
        return
    fi
    PARENT=$LAST_PID
    EXTRA_PIDS+=($(children_of))
    if ! check_body "http://127.0.0.1:$port$BENCH_PATH"; then
        set_status "$name" unavailable "its 200 does not carry the backend's body"
        return
    fi
    if [ "$keys" = 1 ]; then
        must_refuse_keyless "$name" "http://127.0.0.1:$port$BENCH_PATH" || return
    fi
    set_status "$name" ok ""
}

start_haproxy() {
    command -v haproxy >/dev/null || { set_status haproxy unavailable "haproxy not installed"; return; }
    local dir=$TMP/haproxy port
    free_port port
    mkdir -p "$dir"
    cat >"$dir/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 8192

defaults
    mode http
    option http-keep-alive
    http-reuse always
    timeout connect 5s
    timeout client 120s
    timeout server 120s
    timeout http-keep-alive 120s
    timeout http-request 10s

frontend bench
    bind 127.0.0.1:$port
    default_backend backend

backend backend
    http-reuse always
    server b1 127.0.0.1:$BACKEND_PORT
EOF
    if ! haproxy -c -q -f "$dir/haproxy.cfg" >"$dir/check.log" 2>&1; then
        set_status haproxy unavailable "config rejected: $(cat "$dir/check.log")"
        return
    fi
    start_bg haproxy "${PIN_SERVER[@]}" haproxy -db -f "$dir/haproxy.cfg"
    MAIN_PID[haproxy]=$LAST_PID
    PORT[haproxy]=$port
    if ! wait_http_200 "http://127.0.0.1:$port$BENCH_PATH" 10 "$LAST_PID"; then
        set_status haproxy unavailable "no 200 from it (last: ${LAST_CODE:-none}): $(tail -3 "$TMP/haproxy.log")"
        return
    fi
    if ! check_body "http://127.0.0.1:$port$BENCH_PATH"; then
        set_status haproxy unavailable "its 200 does not carry the backend's body"
        return
    fi
    set_status haproxy ok ""
}

find_bin() { # NAME: the executable of that name under $EDGE_BUILD, if any
    find "$EDGE_BUILD" -maxdepth 3 -type f -name "$1" -perm -u+x 2>/dev/null | head -1
}

ctl() { # edgectl against the control plane of the variant being set up ($CTL_PORT, $CTL_DIR)
    timeout 20 "$EDGECTL" --server "127.0.0.1:$CTL_PORT" --token-file "$CTL_DIR/admin.token" "$@" \
        >>"$TMP/edgectl.log" 2>"$TMP/edgectl.err"
}

start_edge() { start_edge_variant edge 0; }
start_edge_keys() { start_edge_variant edge-keys 1; }

# start_edge_variant NAME KEYS(0|1): its own control plane and data plane, the same binaries.
# With KEYS=1 the route requires an API key, and the key ($BENCH_KEY, imported with --value) is
# in a usage plan covering the stage whose throttle (1,000,000/s, burst 1,000,000: the largest
# the control plane takes) and quota (10^9 a day) never refuse: every request pays for the key
# lookup, the plan's GCRA word and the quota count, and nothing is refused.
start_edge_variant() {
    local name=$1 keys=$2 dir=$TMP/$1 dp port admin_port cp_port key_flag=''
    dp=$(find_bin edge-dataplane)
    CP_BIN=$(find_bin edge-controlplane)
    EDGECTL=$(find_bin edgectl)
    [ -n "$dp" ] || { set_status "$name" unavailable "no edge-dataplane under $EDGE_BUILD"; return; }
    [ -n "$CP_BIN" ] || { set_status "$name" unavailable "no edge-controlplane under $EDGE_BUILD"; return; }
    [ -n "$EDGECTL" ] || { set_status "$name" unavailable "no edgectl under $EDGE_BUILD"; return; }
    mkdir -p "$dir/cache"
    free_port cp_port
    CTL_PORT=$cp_port
    CTL_DIR=$dir
    # The control plane is off the request path: it goes with the client, not the proxy.
    start_bg "$name-controlplane" "${PIN_CLIENT[@]}" "$CP_BIN" --db "$dir/edge.db" \
        --listen "127.0.0.1:$cp_port" --token-file "$dir/admin.token"
    if ! wait_listen "$cp_port" 10; then
        set_status "$name" unavailable "edge-controlplane did not listen: $(tail -3 "$TMP/$name-controlplane.log")"
        return
    fi
    # The first start writes an admin token to this 0600 file (DESIGN.md section 5).
    for _ in $(seq 50); do
        [ -s "$dir/admin.token" ] && break
        sleep 0.1
    done
    if [ ! -s "$dir/admin.token" ]; then
        set_status "$name" unavailable "no admin token in $dir/admin.token"
        return
    fi
    # Pool of 64 idle upstream connections per worker, like nginx's "keepalive 64".
    if ! ctl upstream create bench-backend --target "127.0.0.1:$BACKEND_PORT" --pool-size 64; then
        set_status "$name" unavailable "edgectl upstream create failed: $(cat "$TMP/edgectl.err")"
        return
    fi
    if ! ctl api create bench; then
        set_status "$name" unavailable "edgectl api create failed: $(cat "$TMP/edgectl.err")"
        return
    fi
    [ "$keys" = 1 ] && key_flag=--api-key-required
    if ! ctl route create bench --method ANY --path '/{proxy+}' --upstream bench-backend $key_flag; then
        set_status "$name" unavailable "edgectl route create failed: $(cat "$TMP/edgectl.err")"
        return
    fi
    if ! ctl deploy bench --stage prod; then
        set_status "$name" unavailable "edgectl deploy failed: $(cat "$TMP/edgectl.err")"
        return
    fi
    if [ "$keys" = 1 ]; then
        if ! ctl plan create bench-plan --rate 1000000 --burst 1000000 --quota 1000000000/day \
            --stage bench:prod; then
            set_status "$name" unavailable "edgectl plan create failed: $(cat "$TMP/edgectl.err")"
            return
        fi
        if ! printf '%s\n' "$BENCH_KEY" | ctl key create bench-key --plan bench-plan --value -; then
            set_status "$name" unavailable "edgectl key create failed: $(cat "$TMP/edgectl.err")"
            return
        fi
    fi
    free_port port
    free_port admin_port
    start_bg "$name-dataplane" "${PIN_SERVER[@]}" "$dp" --control-plane "127.0.0.1:$cp_port" \
        --listen "127.0.0.1:$port" --workers 1 --admin "127.0.0.1:$admin_port" \
        --cache-dir "$dir/cache" --node-id "bench-$name" --idle-timeout-ms 120000
    MAIN_PID[$name]=$LAST_PID
    PORT[$name]=$port
    if ! wait_http_200 "http://127.0.0.1:$port$BENCH_PATH" 20 "$LAST_PID"; then
        set_status "$name" unavailable "no 200 on $BENCH_PATH (last: ${LAST_CODE:-none}): $(tail -3 "$TMP/$name-dataplane.log")"
        kill -TERM "$LAST_PID" 2>/dev/null
        return
    fi
    if ! check_body "http://127.0.0.1:$port$BENCH_PATH"; then
        set_status "$name" unavailable "its 200 does not carry the backend's body"
        return
    fi
    if [ "$keys" = 1 ]; then
        must_refuse_keyless "$name" "http://127.0.0.1:$port$BENCH_PATH" || return
    fi
    set_status "$name" ok ""
}

ACTIVE=()
for p in "${WANT[@]}"; do
    log "starting $p"
    "start_${p//-/_}"
    if [ "${STATUS[$p]}" = ok ]; then
        ACTIVE+=("$p")
        RSS_START[$p]=$(rss_kib $(proxy_pids "$p"))
        log "$p on 127.0.0.1:${PORT[$p]} (pids $(proxy_pids "$p"))"
    fi
done
if [ ${#ACTIVE[@]} -eq 0 ]; then
    echo "run.sh: no proxy could be started" >&2
    for p in "${WANT[@]}"; do echo "$p: not available (${REASON[$p]})" >&2; done
    exit 1
fi

alive() { kill -0 "${MAIN_PID[$1]}" 2>/dev/null; }

# run_wrk PROXY SECONDS OUT: wrk in the background so that a signal reaches the trap at once.
# Every proxy gets the same requests, the API key header included (the plain ones ignore it).
run_wrk() {
    local url="http://127.0.0.1:${PORT[$1]}$BENCH_PATH"
    "${PIN_CLIENT[@]}" timeout -k 2 $(($2 + 15)) wrk -t1 -c"$CONNS" -d"$2s" --latency \
        -H "$KEY_HDR" -s "$BENCH_DIR/wrk_summary.lua" "$url" >"$3" 2>&1 &
    local pid=$!
    MAIN_PIDS+=("$pid")
    wait "$pid"
}

# ---------------------------------------------------------------------------------------------
# Memory first, on fresh processes (after the one request that checked each proxy): idle, and
# with IDLE_CONNS idle keep-alive client connections. Measured after a load, the allocator
# hands the connections memory that the load freed and the growth reads as zero. The keyed
# variants are the same binaries as their plain ones: their idle connections are not sampled.

: >"$TMP/memory.jsonl"
for p in "${ACTIVE[@]}"; do
    alive "$p" || { set_status "$p" failed "exited before the memory sample"; continue; }
    case $p in *-keys) echo null >"$TMP/idle-$p.json"; continue ;; esac
    sleep 1
    log "$p: memory with $IDLE_CONNS idle keep-alive connections"
    pids=$(proxy_pids "$p" | tr ' ' ,)
    "${PIN_CLIENT[@]}" timeout 90 "$PY" "$BENCH_DIR/idle_conns.py" --port "${PORT[$p]}" \
        --path "$BENCH_PATH" --count "$IDLE_CONNS" --pids "$pids" --settle 1 --timeout 60 \
        >"$TMP/idle-$p.json" 2>"$TMP/idle-$p.err"
    [ -s "$TMP/idle-$p.json" ] || echo null >"$TMP/idle-$p.json"
done
sleep 1
for p in "${ACTIVE[@]}"; do
    log "$p: warm-up ${WARMUP}s"
    run_wrk "$p" "$WARMUP" "$TMP/warmup-$p.txt"
done
sleep 1

# ---------------------------------------------------------------------------------------------
# Interleaved rounds, order rotated each round

CLK_TCK=$(getconf CLK_TCK)
LOADAVG_START=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$TMP/rounds.jsonl"
for ((r = 1; r <= ROUNDS; r++)); do
    n=${#ACTIVE[@]}
    for ((s = 0; s < n; s++)); do
        p=${ACTIVE[$(((s + r - 1) % n))]}
        [ "${STATUS[$p]}" = ok ] || continue
        if ! alive "$p"; then
            set_status "$p" failed "exited before round $r"
            continue
        fi
        pids=$(proxy_pids "$p")
        acc0=$(backend_accepts)
        cpu0=$(cpu_ticks $pids)
        bk0=$(cpu_ticks "$BACKEND_PID")
        core0=$(core_busy_ticks "$SERVER_CORE")
        log "round $r/$ROUNDS slot $s: $p ${DURATION}s"
        run_wrk "$p" "$DURATION" "$TMP/wrk-$r-$p.txt"
        cpu1=$(cpu_ticks $pids)
        bk1=$(cpu_ticks "$BACKEND_PID")
        core1=$(core_busy_ticks "$SERVER_CORE")
        acc1=$(backend_accepts)
        # What else ran on the server core: other people's jobs sharing this machine.
        foreign=$(((core1 - core0) - (cpu1 - cpu0) - (bk1 - bk0)))
        [ $foreign -lt 0 ] && foreign=0
        summary=$(sed -n 's/^BENCHJSON //p' "$TMP/wrk-$r-$p.txt")
        if [ -z "$summary" ]; then
            set_status "$p" failed "wrk gave no summary in round $r: $(tail -3 "$TMP/wrk-$r-$p.txt")"
            continue
        fi
        # The accept count includes the stats request that read acc1.
        printf '{"proxy":"%s","round":%d,"slot":%d,"cpu_ticks":%d,"backend_cpu_ticks":%d,"foreign_server_core_ticks":%d,"clk_tck":%d,"upstream_accepts":%d,"wrk":%s}\n' \
            "$p" "$r" "$s" $((cpu1 - cpu0)) $((bk1 - bk0)) "$foreign" "$CLK_TCK" \
            $((${acc1:-0} - ${acc0:-0} - 1)) "$summary" >>"$TMP/rounds.jsonl"
        sleep 1
    done
done

for p in "${ACTIVE[@]}"; do
    after=null
    alive "$p" && after=$(rss_kib $(proxy_pids "$p"))
    printf '{"proxy":"%s","rss_start_kib":%s,"rss_after_load_kib":%s,"idle":%s}\n' \
        "$p" "${RSS_START[$p]}" "$after" "$(cat "$TMP/idle-$p.json")" >>"$TMP/memory.jsonl"
done

# ---------------------------------------------------------------------------------------------
# Report

for p in "${ALL_PROXIES[@]}"; do
    [ -n "${STATUS[$p]:-}" ] && printf '%s\t%s\t%s\n' "$p" "${STATUS[$p]}" "${REASON[$p]}"
done >"$TMP/status.tsv"
{
    printf 'rounds\t%s\nduration_s\t%s\nconnections\t%s\nidle_conns\t%s\n' \
        "$ROUNDS" "$DURATION" "$CONNS" "$IDLE_CONNS"
    printf 'warmup_s\t%s\npinning\t%s\nrequest_path\t%s\n' "$WARMUP" "$PINNING" "$BENCH_PATH"
    printf 'date\t%s\nkernel\t%s\ncpus\t%s\n' "$(date -u +%FT%TZ)" "$(uname -r)" "$(nproc)"
    printf 'loadavg_start\t%s\nloadavg_end\t%s\n' "$LOADAVG_START" "$(cut -d' ' -f1-3 /proc/loadavg)"
    printf 'cpu_model\t%s\n' "$(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -1)"
    printf 'wrk\t%s\n' "$(wrk --version 2>&1 | head -1 | one_line)"
    command -v nginx >/dev/null && printf 'nginx\t%s\n' "$(nginx -v 2>&1 | one_line)"
    command -v haproxy >/dev/null && printf 'haproxy\t%s\n' "$(haproxy -v 2>&1 | head -1 | one_line)"
    printf 'edge_build\t%s\n' "$EDGE_BUILD"
} >"$TMP/meta.tsv"

report_args=(--dir "$TMP")
[ -n "$JSON_OUT" ] && report_args+=(--json "$JSON_OUT")
"$PY" "$BENCH_DIR/report.py" "${report_args[@]}"
