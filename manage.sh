#!/usr/bin/env bash
# geo_service set-up and run, for a fresh Debian 12 machine (as root, or a user with sudo).
#   ./manage.sh serve   install everything, start the local PostGIS, load the 大足 sample,
#                       serve on http://127.0.0.1:8000
#   ./manage.sh test    install everything, run the quality gate (ruff, mypy, eslint), then
#                       the whole test suite (extra args go to pytest, e.g. -m "not db and not browser")
#   ./manage.sh setup   install everything, nothing else
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")"

# Every Debian package by name: installs use --no-install-recommends, so nothing that a
# package only *recommends* arrives unless it is listed here.
#   postgresql-NN-postgis-3  the PostGIS extension itself (Debian's `postgis` only recommends it)
#   fontconfig               fonts-wqy-microhei only recommends it; Chromium needs it for CJK text
#   gdal-bin                 ogrinfo/ogr2ogr in tests/test_ogc_clients.py
#   poppler-utils            pdftotext/pdftoppm read the 联检报告 PDF (tests, review)
#   python3-qgis             QGIS 3.22 headless (OAPIF + vector tiles) in tests/test_ogc_clients.py;
#   qgis-providers           its OAPIF and vector-tile providers (named so the test's need is plain)
APT_PACKAGES=(postgresql postgresql-common python3 python3-venv python3-dev gcc util-linux
              chromium fontconfig fonts-wqy-microhei gdal-bin ca-certificates
              poppler-utils python3-qgis qgis-providers
              wrk)  # wrk: the load generator of bench/bench_ogc_vs_tipg.py (C; spares the CPU)
NODE_APT_PACKAGES=(nodejs npm)  # only when no npm is on PATH (NodeSource's nodejs bundles npm)
VENV=.venv

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@";
    else echo "need root (or sudo) to install: $*" >&2; exit 1; fi
}

pg_major() {  # the PostgreSQL major version that `postgresql` installs (15 on Debian 12)
    local v
    v=$(dpkg-query -W -f='${Version}' postgresql 2>/dev/null || true)
    [ -n "$v" ] || v=$(apt-cache policy postgresql 2>/dev/null | awk '/Candidate:/{print $2}')
    if [ -z "$v" ] || [ "$v" = "(none)" ]; then as_root apt-get update -qq
        v=$(apt-cache policy postgresql | awk '/Candidate:/{print $2}'); fi
    echo "${v%%+*}"
}

install_system_packages() {
    local missing=() pkgs=("${APT_PACKAGES[@]}" "postgresql-$(pg_major)-postgis-3")
    for pkg in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing Debian packages: ${missing[*]}"
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
}

install_python() {
    local stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
    if [ ! -x "$VENV/bin/python" ]; then
        say "creating the virtualenv in $VENV"
        python3 -m venv "$VENV"
    fi
    if [ ! -f "$stamp" ]; then
        say "installing Python packages"
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -e '.[test]'
        rm -f "$VENV"/.installed-*
        touch "$stamp"
    fi
}

install_web_map() {  # the care map's Leaflet + plugins, from web_map/package-lock.json
    local stamp="web_map/node_modules/.installed-$(sha256sum web_map/package-lock.json | cut -c1-16)"
    if [ ! -f "$stamp" ]; then
        if ! command -v npm >/dev/null; then
            say "installing Debian packages: ${NODE_APT_PACKAGES[*]}"
            as_root apt-get update -qq
            as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
                --no-install-recommends "${NODE_APT_PACKAGES[@]}" >/dev/null
        fi
        say "installing the web map's npm packages (web_map/node_modules)"
        npm ci --prefix web_map --no-audit --no-fund --ignore-scripts --loglevel=error
        touch "$stamp"
    fi
}

setup() {
    install_system_packages
    install_python
    install_web_map
}

quality_gate() {  # any finding fails the run
    say "ruff check"
    "$VENV/bin/ruff" check .
    say "mypy geo_service"
    "$VENV/bin/mypy"
    say "eslint web_map"
    npm run --prefix web_map -s lint
}

case "${1:-}" in
    setup)
        setup ;;
    serve)
        setup
        "$VENV/bin/geo-service" db start
        "$VENV/bin/geo-service" db upgrade
        "$VENV/bin/geo-service" sample
        exec "$VENV/bin/geo-service" serve --host "${GEO_SERVICE_HOST:-127.0.0.1}" \
            --port "${GEO_SERVICE_PORT:-8000}" ;;
    test)
        shift
        setup
        quality_gate
        exec "$VENV/bin/python" -m pytest "$@" ;;
    *)
        sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2
        exit 2 ;;
esac
