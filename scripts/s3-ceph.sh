#!/usr/bin/env bash
# s3-ceph.sh — a throw-away, single-node Ceph cluster (mon + mgr + 1 OSD + radosgw)
# serving S3 on loopback, for tests and CI. Uses Debian bookworm's ceph 16.2 (pacific).
#
# Vendored copy of the shared s3-ceph.sh (/work/shared/s3-ceph.sh, next to the project's checkout)
# so that a fresh clone on a CI machine has it; scripts/run-tests.mjs runs it. Keep the two in step.
#
#   s3-ceph.sh install   apt-get install the Ceph packages (start does this itself when they are missing)
#   s3-ceph.sh start     bring the cluster up (fresh, empty) unless it already runs; prints S3_* variables
#   s3-ceph.sh status    exit 0 and print S3_* variables when the endpoint is ready, exit 1 otherwise
#   s3-ceph.sh env       print the S3_* variables only (for: eval "$(s3-ceph.sh env)")
#   s3-ceph.sh stop      kill every daemon of this cluster (by its pid file) and delete its folder
#
# Settings (environment):
#   S3_CEPH_DIR     folder holding everything (config, pids, logs, data)  [/tmp/s3-ceph]
#   S3_CEPH_PORT    radosgw (S3) port on 127.0.0.1                          [7480]
#   S3_CEPH_MON_PORT  monitor port (msgr v2) on 127.0.0.1                   [3300]
#   S3_CEPH_STORE   memstore (data in RAM, fastest) | bluestore (data in a sparse file) [memstore]
#   S3_CEPH_SIZE_GB capacity the OSD reports (memstore: RAM it may use)     [8]
#   S3_CEPH_MGR     1 = run a ceph-mgr too (~300 MB RSS; not needed by radosgw) [1]
#   S3_ACCESS_KEY / S3_SECRET_KEY / S3_BUCKET  fixed credentials and the bucket created at start
#
# Data lives only as long as the cluster: every start after a stop begins empty.
# Caveat: set requestChecksumCalculation/responseChecksumValidation to "WHEN_REQUIRED" in
# @aws-sdk/client-s3 for streamed bodies (pacific rgw predates the SDK's default CRC trailers).
set -euo pipefail

D=${S3_CEPH_DIR:-/tmp/s3-ceph}
PORT=${S3_CEPH_PORT:-7480}
MON_PORT=${S3_CEPH_MON_PORT:-3300}
STORE=${S3_CEPH_STORE:-memstore}
SIZE_GB=${S3_CEPH_SIZE_GB:-8}
WITH_MGR=${S3_CEPH_MGR:-1}
AK=${S3_ACCESS_KEY:-cephtestaccesskey001}
SK=${S3_SECRET_KEY:-cephtestsecretkey0000000000000000000001}
BUCKET=${S3_BUCKET:-test-bucket}
ENDPOINT="http://127.0.0.1:$PORT"
PKGS="ceph-mon ceph-osd ceph-mgr radosgw ceph-common curl"
CONF="$D/ceph.conf"
C=(-c "$CONF")

log() { echo "s3-ceph: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

print_env() {
  cat <<EOF
S3_ENDPOINT=$ENDPOINT
S3_REGION=us-east-1
S3_ACCESS_KEY=$AK
S3_SECRET_KEY=$SK
S3_BUCKET=$BUCKET
S3_FORCE_PATH_STYLE=true
EOF
}

cmd_install() {
  command -v radosgw >/dev/null && command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null &&
    command -v ceph-mgr >/dev/null && command -v curl >/dev/null && return 0
  [ "$(id -u)" = 0 ] || die "Ceph is not installed; as root run: apt-get install -y --no-install-recommends $PKGS"
  log "installing $PKGS"
  export DEBIAN_FRONTEND=noninteractive
  # shellcheck disable=SC2086
  apt-get install -y --no-install-recommends $PKGS >/dev/null ||
    { apt-get update >/dev/null && apt-get install -y --no-install-recommends $PKGS >/dev/null; }
}

# pid of one daemon (mon|osd|mgr|rgw) if it is alive and is a ceph process, else nothing
pid_of() {
  local f="$D/run/${1/rgw/client}.pid" p   # pid file is named by daemon type; rgw's type is client
  [ -s "$f" ] || return 1
  p=$(cat "$f")
  case "$(ps -o comm= -p "$p" 2>/dev/null)" in ceph-*|radosgw) echo "$p" ;; *) return 1 ;; esac
}

http_code() { curl -s -o /dev/null -m 2 -w '%{http_code}' "$ENDPOINT/" 2>/dev/null || true; }

# signed S3 request with curl's built-in SigV4 (rgw wants x-amz-content-sha256)
s3_curl() {
  curl -s -m 10 --aws-sigv4 "aws:amz:us-east-1:s3" --user "$AK:$SK" \
    -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" "$@"
}

is_ready() {
  [ -f "$D/ready" ] || return 1
  for d in mon osd rgw; do pid_of $d >/dev/null || return 1; done
  [ "$(http_code)" = 200 ]
}

cmd_status() {
  if is_ready; then
    print_env
    ceph "${C[@]}" -s --connect-timeout 5 2>/dev/null | sed 's/^/# /' || true
    return 0
  fi
  local d
  for d in mon osd mgr rgw; do
    if p=$(pid_of $d); then log "$d running (pid $p)"; else log "$d not running"; fi
  done
  log "endpoint $ENDPOINT: HTTP $(http_code)"
  return 1
}

cmd_stop() {
  local stage d p pids
  # gateway and manager first, then the OSD, then the monitor: each gets SIGTERM and
  # 8 s to exit (they take ~2 s), then SIGKILL. Only pids from this cluster's pid files.
  for stage in "rgw mgr" osd mon; do
    pids=()
    for d in $stage; do
      p=$(pid_of "$d") || continue
      kill -TERM "$p" 2>/dev/null && pids+=("$p")
    done
    for _ in $(seq 1 40); do
      local alive=()
      for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive+=("$p"); done
      pids=("${alive[@]}")
      [ ${#pids[@]} -eq 0 ] && break
      sleep 0.2
    done
    for p in "${pids[@]}"; do log "pid $p did not exit: SIGKILL"; kill -KILL "$p" 2>/dev/null || true; done
  done
  case "$D" in /tmp/?*) rm -rf "$D" ;; *) [ -f "$D/ceph.conf" ] && rm -rf "$D" ;; esac
  log "stopped; removed $D"
}

write_conf() {
  local fsid=$1
  cat >"$CONF" <<EOF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
# no authentication: loopback-only test cluster
auth cluster required = none
auth service required = none
auth client required = none
auth allow insecure global id reclaim = false
ms mon client mode = crc
run dir = $D/run
admin socket = $D/run/\$name.asok
pid file = $D/run/\$type.pid
log file = $D/log/\$name.log
crash dir = $D/crash
log to stderr = false
# one OSD: size-1 pools, few PGs, no autoscaler, no redundancy warnings
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
[mon]
mon data = $D/mon
# commit map changes every 0.1 s instead of 1 s: each pool create is one commit
paxos propose interval = 0.1
[osd]
osd data = $D/osd
osd objectstore = $STORE
memstore device bytes = $((SIZE_GB * 1024 * 1024 * 1024))
bluestore block create = true
bluestore block size = $((SIZE_GB * 1024 * 1024 * 1024))
bluestore fsck on mount = false
osd memory target = 1073741824
[mgr]
mgr data = $D/mgr
[client.rgw]
# tcp_nodelay: without it a kept-alive GET waits ~40 ms (beast writes headers and body
# separately; Nagle holds the body until the client's delayed ACK). Added here, not yet in ../shared.
rgw frontends = beast endpoint=127.0.0.1:$PORT tcp_nodelay=1
rgw data = $D/rgw
rgw enable usage log = false
# reclaim deleted objects' data after ~1 min instead of 2 h (matters with memstore)
rgw gc obj min wait = 60
rgw gc processor period = 60
EOF
}

on_start_failure() {
  local rc=$? f
  [ "$rc" = 0 ] && return 0
  log "start failed (exit $rc); last log lines:"
  for f in "$D"/log/*; do [ -f "$f" ] && { echo "--- $f" >&2; tail -n 15 "$f" >&2; }; done
  cmd_stop
  exit "$rc"
}

cmd_start() {
  if is_ready; then print_env; return 0; fi
  cmd_install
  # anything half-up from an earlier run goes first
  if [ -e "$D" ]; then log "cleaning up an earlier, unfinished cluster in $D"; cmd_stop; fi
  [ "$(http_code)" = 000 ] || die "port $PORT on 127.0.0.1 is already in use by something else"
  local t0=$SECONDS fsid osd_uuid id p code=000
  trap 'on_start_failure' EXIT
  mkdir -p "$D"/{run,log,crash,mon,osd,mgr,rgw}
  fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  write_conf "$fsid"

  # monitor
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$MON_PORT]" "$D/monmap" >/dev/null
  ceph-mon "${C[@]}" -i a --mkfs --monmap "$D/monmap" >>"$D/log/setup.log" 2>&1
  ceph-mon "${C[@]}" -i a </dev/null >>"$D/log/setup.log" 2>&1 ||
    die "ceph-mon failed to start (port $MON_PORT in use? set S3_CEPH_MON_PORT)"
  ceph "${C[@]}" --connect-timeout 20 mon stat >/dev/null 2>&1 || die "monitor did not come up (see $D/log)"

  # one OSD
  osd_uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
  id=$(ceph "${C[@]}" osd new "$osd_uuid")
  ceph-osd "${C[@]}" -i "$id" --mkfs --osd-uuid "$osd_uuid" >>"$D/log/setup.log" 2>&1
  ceph-osd "${C[@]}" -i "$id" </dev/null >>"$D/log/setup.log" 2>&1 || die "ceph-osd failed to start"

  # rgw's pools, all at once through one ceph shell (rgw alone makes them one by one,
  # waiting for each: ~10 s more)
  for p in .rgw.root default.rgw.log default.rgw.control default.rgw.meta \
           default.rgw.buckets.index default.rgw.buckets.data default.rgw.buckets.non-ec; do
    echo "osd pool create $p 8 8"
    echo "osd pool application enable $p rgw"
  done | ceph "${C[@]}" >>"$D/log/setup.log" 2>&1

  # manager (optional) and gateway
  if [ "$WITH_MGR" = 1 ]; then
    ceph-mgr "${C[@]}" -i x </dev/null >>"$D/log/setup.log" 2>&1 || die "ceph-mgr failed to start"
  fi
  radosgw "${C[@]}" -n client.rgw </dev/null >>"$D/log/setup.log" 2>&1 || die "radosgw failed (see $D/log)"
  radosgw-admin "${C[@]}" user create --uid=test --display-name=test \
    --access-key="$AK" --secret-key="$SK" >>"$D/log/setup.log" 2>&1 || die "user create failed"

  for _ in $(seq 1 300); do [ "$(http_code)" = 200 ] && break; sleep 0.2; done
  [ "$(http_code)" = 200 ] || die "radosgw not answering on $ENDPOINT (see $D/log)"
  # bucket (a just-created user can take a moment to be visible to rgw: retry)
  for _ in $(seq 1 50); do
    code=$(s3_curl -o /dev/null -w '%{http_code}' -X PUT "$ENDPOINT/$BUCKET") || true
    [ "$code" = 200 ] && break
    sleep 0.2
  done
  [ "$code" = 200 ] || die "could not create bucket $BUCKET (HTTP $code)"
  touch "$D/ready"
  trap - EXIT
  log "ready in $((SECONDS - t0)) s ($STORE)"
  print_env
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) print_env ;;
  *) echo "usage: $0 install|start|stop|status|env" >&2; exit 2 ;;
esac
