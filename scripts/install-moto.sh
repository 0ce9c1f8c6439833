#!/usr/bin/env bash
# Installs moto's S3-compatible server (PyPI `moto[server]`), used by the blob store
# conformance suite (actors/src/blob/tests.rs). Does nothing when moto_server is on PATH.
set -euo pipefail
if command -v moto_server >/dev/null 2>&1; then
    exit 0
fi
python3 -m pip install --quiet 'moto[server]'
command -v moto_server >/dev/null 2>&1
