# syntax=docker/dockerfile:1
# One image for the GitHub Action (`jules-bridge action`) and the server (`jules-bridge serve`).

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin jules-bridge

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates=20230311* \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/jules-bridge /usr/local/bin/jules-bridge
# Runs as root: the Actions runner mounts a workspace that only root can write.
ENTRYPOINT ["/usr/local/bin/jules-bridge"]
CMD ["--help"]
