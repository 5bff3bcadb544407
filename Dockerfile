# syntax=docker/dockerfile:1
# txgate-server container image, built from Debian 12's packages only.
#
#   docker build -t txgate .        (or: buildah bud -t txgate .)
#   docker run -e TXGATE_MYSQL_HOST=db -e TXGATE_MYSQL_USER=txgate \
#     -e TXGATE_MYSQL_PASSWORD_FILE=/run/secrets/mysql-password -p 50051:50051 txgate
#
# Every flag --name can also be set as TXGATE_NAME; extra arguments go to
# txgate-server. tests/deploy/container.sh builds and checks this image.

# ---- build stage: compilers and -dev packages, never shipped ----------------
FROM debian:bookworm-slim AS build

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config ca-certificates python3-pip \
      libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev default-libmysqlclient-dev prometheus-cpp-dev libjemalloc-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /src
# Only what the server build reads, so edits elsewhere (docs, tests, clients)
# keep the cached layers. CMake configure fetches two pinned, checksummed
# proto packages (PyPI googleapis-common-protos, npm grpc-health-check).
COPY CMakeLists.txt ./
COPY cmake/ cmake/
COPY proto/ proto/
COPY server/ server/
ARG BUILD_JOBS=2
# The context has no .git: pass the commit for --version and txgate_build_info
# (docker build --build-arg GIT_COMMIT=$(git rev-parse HEAD) .); else "unknown".
ARG GIT_COMMIT=
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DTXGATE_BUILD_TESTS=OFF \
      -DTXGATE_GIT_COMMIT="${GIT_COMMIT}" \
 && cmake --build /build --target txgate-server -j "${BUILD_JOBS}" \
 && strip --strip-unneeded /build/txgate-server

# ---- runtime stage: the server and its shared libraries ---------------------
FROM debian:bookworm-slim

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ca-certificates libgrpc++1.51 libprotobuf32 libabsl20220623 libmariadb3 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 libjemalloc2 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 txgate \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin txgate

COPY --from=build /build/txgate-server /usr/local/bin/txgate-server

USER 10001:10001
# gRPC on every interface inside the container; 9464 is for Prometheus metrics.
ENV TXGATE_LISTEN=0.0.0.0:50051
EXPOSE 50051 9464
# txgate-server runs as PID 1: it blocks SIGTERM/SIGINT and sigwaits for them,
# drains (--shutdown_grace) and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/txgate-server"]
CMD []

ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="txgate" \
      org.opencontainers.image.description="gRPC gateway giving transactional access to MySQL/MariaDB over a self-healing connection pool" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="debian:bookworm-slim"
