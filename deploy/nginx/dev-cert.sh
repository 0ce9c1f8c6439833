#!/usr/bin/env bash
# Makes a self-signed TLS certificate for local and staging use of deploy/nginx/agora.conf:
#   deploy/nginx/certs/agora.crt and deploy/nginx/certs/agora.key (the folder is gitignored).
#
#   deploy/nginx/dev-cert.sh                 # CN=localhost, SANs localhost and 127.0.0.1
#   deploy/nginx/dev-cert.sh agora.test      # another name (added as a SAN too)
#   AGORA_CERT_DIR=/tmp/x deploy/nginx/dev-cert.sh   # write elsewhere
#
# Browsers and clients will not trust it (curl -k, or add agora.crt to the trust store).
# In production use Let's Encrypt instead: see the comments in deploy/nginx/agora.conf.
set -euo pipefail

name="${1:-localhost}"
dir="${AGORA_CERT_DIR:-$(cd "$(dirname "$0")" && pwd)/certs}"
days="${AGORA_CERT_DAYS:-365}"

command -v openssl >/dev/null 2>&1 || { echo "error: openssl is needed (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$dir"

san="DNS:${name},DNS:localhost,IP:127.0.0.1"
[ "$name" = localhost ] && san="DNS:localhost,IP:127.0.0.1"

umask 077
openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days "$days" \
  -subj "/CN=${name}" \
  -addext "subjectAltName=${san}" \
  -addext "keyUsage=digitalSignature,keyEncipherment" \
  -addext "extendedKeyUsage=serverAuth" \
  -keyout "$dir/agora.key" -out "$dir/agora.crt" 2>/dev/null
# nginx's master reads the key as root; the certificate may be world-readable.
chmod 600 "$dir/agora.key"
chmod 644 "$dir/agora.crt"
echo "wrote $dir/agora.crt and $dir/agora.key (CN=${name}, ${days} days)"
