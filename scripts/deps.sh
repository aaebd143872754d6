#!/usr/bin/env bash
# Installs the Debian packages Splitcast's make targets need, only those
# missing. Usage: scripts/deps.sh [base|notebooks|browser|load]...
set -euo pipefail

want=()
for group in "${@:-base}"; do
  case "$group" in
    base) want+=(clickhouse-server clickhouse-client) ;;
    stats) want+=(python3-scipy python3-statsmodels python3-numpy python3-mpmath) ;;
    notebooks) want+=(jupyter-nbconvert python3-nbformat python3-ipykernel python3-clickhouse-driver python3-pandas
                      python3-matplotlib python3-scipy python3-statsmodels) ;;
    browser) want+=(chromium) ;;
    load) want+=(wrk) ;;
    *) echo "deps.sh: unknown group $group" >&2; exit 2 ;;
  esac
done

missing=()
for pkg in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "Splitcast needs these packages and cannot install them here (no apt-get): ${missing[*]}" >&2
  echo "Install ClickHouse (clickhouse-server, clickhouse-client) and the rest with your package manager." >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null; then sudo="sudo"; else
    echo "Splitcast needs root to install: ${missing[*]}; run: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Debian's clickhouse-server package tries to start the system service; no
# init system runs here, and ours runs from the project's own config anyway.
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || {
  echo "apt-get install failed; install by hand: apt-get install -y ${missing[*]}" >&2
  exit 1
}
