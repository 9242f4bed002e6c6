#!/usr/bin/env bash
# Installs the system packages the test suite needs and a fresh Debian/Ubuntu machine lacks:
# Chromium (browser tests), Java 17 + Maven (the real local Neo4j of tools/neo4j) and the compose
# client (docker-compose.yml check) and redis-server (the queue tests start their own on free ports).
# Uses sudo when not run as root.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v java >/dev/null 2>&1 || need+=(openjdk-17-jdk-headless)
command -v mvn >/dev/null 2>&1 || need+=(maven)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || need+=(docker-compose)
if [ ${#need[@]} -eq 0 ]; then
  echo "system packages for the tests: all present"
  exit 0
fi
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
echo "installing: ${need[*]}"
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
