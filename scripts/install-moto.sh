#!/usr/bin/env bash
# Installs moto's S3-compatible server (PyPI `moto[server]`), used by the blob store
# conformance suite (actors/src/blob/tests.rs). Does nothing when moto_server is on PATH or
# already in the virtualenv below. Where the system Python refuses pip installs
# (externally managed), installs into a virtualenv under ~/.cache/agora/moto, which the
# test looks in too.
set -euo pipefail
venv=${XDG_CACHE_HOME:-$HOME/.cache}/agora/moto
if command -v moto_server >/dev/null 2>&1 || [ -x "$venv/bin/moto_server" ]; then
    exit 0
fi
if python3 -m pip install --quiet 'moto[server]' >/dev/null 2>&1 && command -v moto_server >/dev/null 2>&1; then
    exit 0
fi
if ! python3 -m venv "$venv" >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null 2>&1
    rm -rf "$venv"
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet 'moto[server]'
[ -x "$venv/bin/moto_server" ]
