#!/usr/bin/env bash
# Makes sure the real peers the client and compat tests run against are installed:
#   skopeo           (Debian package skopeo)           test/clients/skopeo.test.ts
#   docker-registry  (Debian package docker-registry)  test/compat/side-by-side.test.ts, benches
#   wrk              (Debian package wrk)              bench/load (npm run bench:load)
#   chromium         (Debian package chromium)         test/ui/browser.test.ts (headless, reads the web UI's DOM)
# Tests call this through test/helpers/peers.ts (ensureTools), benches through bench/lib/targets.ts;
# people don't need to. Arguments name the tools wanted (each is also its Debian package); none =
# what the tests need (skopeo docker-registry), so a bench-only tool never stands in a test's way.
#
# Idempotent and silent when all are present. When one is missing: as root, apt-get update (once)
# and install them all; not as root, print how to install and exit 1 (the tests then skip).
#
# The Debian docker-registry package starts a service on :5000 when it is installed (its
# postinst runs invoke-rc.d / deb-systemd-invoke). That would take the port `npm start` uses, so
# the install runs behind a policy-rc.d that forbids service starts, and whatever the package
# started anyway is stopped and disabled afterwards. Only the binary is used, with our own config.
set -euo pipefail

if [ "$#" -gt 0 ]; then PACKAGES=("$@"); else PACKAGES=(skopeo docker-registry); fi
for tool in "${PACKAGES[@]}"; do
  case "$tool" in
    skopeo | docker-registry | wrk | chromium) ;;
    *) echo "ensure-tools: unknown tool $tool (known: skopeo docker-registry wrk chromium)" >&2; exit 2 ;;
  esac
done
INSTALL_HINT="sudo apt-get update && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${PACKAGES[*]}"

missing() {
  local out=()
  for tool in "${PACKAGES[@]}"; do
    case "$tool" in
      skopeo) command -v skopeo >/dev/null 2>&1 || out+=(skopeo) ;;
      *) [ -x "/usr/bin/$tool" ] || out+=("$tool") ;;
    esac
  done
  echo "${out[*]}"
}

[ -z "$(missing)" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-tools: missing $(missing) and not root; install with:" >&2
  echo "  $INSTALL_HINT" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-tools: missing $(missing) and no apt-get (a Debian or Ubuntu machine is expected)." >&2
  echo "  Install skopeo, docker-registry (distribution 2.8, binary /usr/bin/docker-registry), wrk and chromium by hand." >&2
  exit 1
fi

# node --test runs test files in parallel processes; one installer at a time, and the ones that
# waited find the tools in place.
exec 9>/tmp/quayside-ensure-tools.lock
flock 9
[ -z "$(missing)" ] && exit 0

port_5000_open() { (exec 3<>/dev/tcp/127.0.0.1/5000) 2>/dev/null; }
port_5000_before=no
port_5000_open && port_5000_before=yes

log=$(mktemp /tmp/quayside-ensure-tools.XXXXXX.log)
policy=/usr/sbin/policy-rc.d
own_policy=no
cleanup() {
  [ "$own_policy" = yes ] && rm -f "$policy"
  rm -f "$log"
}
trap cleanup EXIT
if [ ! -e "$policy" ]; then
  # 101 = "action forbidden by policy" (invoke-rc.d(8)); honoured by deb-systemd-invoke too.
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod 0755 "$policy"
  own_policy=yes
fi

export DEBIAN_FRONTEND=noninteractive
apt_quiet() { apt-get -q -o DPkg::Lock::Timeout=300 "$@" >>"$log" 2>&1; }
if ! apt_quiet update || ! apt_quiet install -y --no-install-recommends "${PACKAGES[@]}"; then
  echo "ensure-tools: apt-get failed:" >&2
  cat "$log" >&2
  exit 1
fi

# Belt and braces: if the service got started anyway, stop it and keep it from starting at boot.
if [ -d /run/systemd/system ]; then
  systemctl disable --now docker-registry.service >>"$log" 2>&1 || true
else
  if [ -x /etc/init.d/docker-registry ]; then
    /etc/init.d/docker-registry stop >>"$log" 2>&1 || true
  fi
  update-rc.d docker-registry disable >>"$log" 2>&1 || true
fi
if [ "$port_5000_before" = no ] && port_5000_open; then
  echo "ensure-tools: something is listening on 127.0.0.1:5000 after installing docker-registry; stop it before npm start." >&2
  exit 1
fi

if [ -n "$(missing)" ]; then
  echo "ensure-tools: still missing $(missing) after apt-get install:" >&2
  cat "$log" >&2
  exit 1
fi
