# One image for the GitHub Action (`jules-bridge action`) and the server (`jules-bridge serve`):
# a static musl binary on distroless/static, so that every Action run pulls a few megabytes
# (CI fails above 15 MB compressed; docs/release.md). No shell and no package manager inside.
#
# Base images are pinned by digest (multi-arch indexes); the comment above each FROM names the
# tag the digest was resolved from. To update one: `docker buildx imagetools inspect TAG`, then
# replace the digest (and the tag in the comment).

# rust:1.95-bookworm (Rust 1.95.0; its rustup adds the musl target)
FROM rust:1.95-bookworm@sha256:6258907abe69656e41cd992e0b705cdcfabcbbe3db374f92ed2d47121282d4a1 AS build

# musl-gcc compiles the C in the dependency tree: SQLite (sqlx's sqlite-bundled) and ring.
# Nothing links OpenSSL: reqwest, octocrab and sqlx all use rustls.
RUN apt-get update \
    && apt-get install -y --no-install-recommends musl-tools=1.2.3-* \
    && rm -rf /var/lib/apt/lists/*
# The builder's own architecture: x86_64 on the release runners (aarch64 on an arm64 builder).
RUN rustup target add "$(uname -m)-unknown-linux-musl"
# cc-rs uses TARGET_CC for the musl target (the host is gnu, so this is a cross build).
ENV TARGET_CC=musl-gcc

WORKDIR /src
COPY . .
# The release profile strips symbols and uses thin LTO (Cargo.toml). The musl target links
# statically; readelf checks it (a dynamic binary names a program interpreter).
RUN target="$(uname -m)-unknown-linux-musl" \
    && cargo build --release --locked --target "$target" --bin jules-bridge \
    && cp "target/$target/release/jules-bridge" /jules-bridge \
    && case "$(readelf -l /jules-bridge)" in \
         *"program interpreter"*) echo "jules-bridge is not a static binary" >&2; exit 1 ;; \
       esac \
    && /jules-bridge --version

# gcr.io/distroless/static-debian12:latest (user root; /etc/ssl/certs/ca-certificates.crt,
# which octocrab's native roots load; /tmp; /etc/passwd)
FROM gcr.io/distroless/static-debian12@sha256:d75cdd72874d4790092fcb1b058493ecf6bb5bf2b2b897045b00ff01d91843f2

LABEL org.opencontainers.image.title="jules-bridge" \
      org.opencontainers.image.description="Connects GitHub issues and pull requests to Google's Jules coding agent" \
      org.opencontainers.image.source="https://github.com/jules-bridge/jules-bridge" \
      org.opencontainers.image.licenses="Apache-2.0"

COPY --from=build /jules-bridge /usr/local/bin/jules-bridge
ENV PATH=/usr/local/bin:/usr/bin:/bin
# `serve` keeps its SQLite file in the working directory by default (DATABASE_URL
# sqlite:jules-bridge.db): mount a volume on /data. The Actions runner replaces the working
# directory with /github/workspace.
WORKDIR /data

# Runs as root: the Actions runner mounts a workspace and file-command files owned by its own
# user, which only root can write from inside the container.
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/jules-bridge"]
CMD ["--help"]
