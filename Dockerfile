# syntax=docker/dockerfile:1.7
#
# The Agora server image. Build from the repository root (the build context must be the
# whole workspace: storage/ embeds deploy/scylla/schema.cql at compile time):
#
#   docker build -t agora:local .
#   docker run --rm -p 8080:8080 -v agora-data:/var/lib/agora agora:local
#
# deploy/compose.yml builds this same file (context `..`). Needs BuildKit (the default
# builder of current Docker) for the cache mounts.

ARG RUST_VERSION=1.95

# ---- builder: the release `agora` binary, exactly the locked dependency versions ----
FROM rust:${RUST_VERSION}-bookworm AS builder
WORKDIR /src
# The image's gcc is all the native build needs: rusqlite bundles SQLite (C) and
# aws-lc-sys builds its C sources with the cc crate (no cmake, no clang on x86_64/aarch64).
COPY . .
# The registry and target dir are cache mounts (kept between builds, not in the layer), so
# the binary is copied out of target/ in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p agora-http --bin agora \
    && install -D -m 0755 target/release/agora /out/agora

# ---- runtime: Debian slim (same glibc as the builder), non-root ----
FROM debian:bookworm-slim AS runtime
# ca-certificates: TLS to SMTP servers and rediss:// (the platform verifier reads the
# system roots). curl: the HEALTHCHECK below and compose's healthchecks.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 agora \
    && useradd --system --uid 10001 --gid agora --home-dir /var/lib/agora --no-create-home \
       --shell /usr/sbin/nologin agora \
    && mkdir -p /var/lib/agora \
    && chown agora:agora /var/lib/agora
COPY --from=builder /out/agora /usr/local/bin/agora

# The data dir holds the SQLite file (agora.db), the generated JWT and webhook secrets when
# none are configured, and the email outbox. With AGORA_STORAGE=scylla only the last two.
ENV AGORA_LISTEN=0.0.0.0:8080 \
    AGORA_DATA_DIR=/var/lib/agora \
    AGORA_LOG_FORMAT=json \
    MALLOC_MMAP_THRESHOLD_=131072
# MALLOC_MMAP_THRESHOLD_: argon2id's 19 MiB buffers go back to the system after each
# login instead of piling up in glibc's heap (see deploy/systemd/agora.service).

USER agora:agora
VOLUME ["/var/lib/agora"]
EXPOSE 8080
# Liveness only (the process answers). Readiness (storage reachable) is /api/ready, which
# deploy/compose.yml checks. If you change AGORA_LISTEN's port, override this check.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/api/health"]
# agora closes WebSockets with 1001, drains in-flight requests and exits 0 on SIGTERM
# (within shutdown_timeout_secs, 30 s by default: give `docker stop -t` at least that).
STOPSIGNAL SIGTERM
ENTRYPOINT ["agora"]
CMD ["serve"]
