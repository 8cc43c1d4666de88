# syntax=docker/dockerfile:1
# CTI Server image: build on debian:bookworm, run on debian:bookworm-slim.
#
# No Docker engine runs on our machines; this file's steps are kept identical
# to scripts/bootstrap.sh (the build stage runs that very script) and to the
# cmake commands of scripts/run.sh, with a Release build.

FROM debian:bookworm AS build
WORKDIR /src
# Bootstrap first, alone, so the package layer is cached across source edits.
COPY scripts/bootstrap.sh scripts/bootstrap.sh
RUN bash scripts/bootstrap.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# Only the server target: the test binaries are not shipped.
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build --target cti-server \
 && strip build/cti-server

FROM debian:bookworm-slim
# Runtime libraries of the -dev packages bootstrap.sh installs, plus curl for
# the health check. Names from `apt-cache depends` on bookworm.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcaf-core0.17 libcaf-io0.17 libcaf-openssl0.17 \
      libboost-url1.81.0 libpqxx-6.4 libpq5 \
      libspdlog1.10 libfmt9 libssl3 libcrypt1 \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --no-create-home \
      --home-dir /nonexistent --shell /usr/sbin/nologin cti
COPY --from=build /src/build/cti-server /usr/local/bin/cti-server
# Fail the image build, not the first start, if a shared library is missing.
RUN ! ldd /usr/local/bin/cti-server | grep -F 'not found'
USER cti
ENV PORT=4000
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${PORT:-4000}/health" || exit 1
ENTRYPOINT ["/usr/local/bin/cti-server"]
