# kong-ts: a DB-less TCP/TLS proxy driven by Kong's declarative kong.yml.
# Build: docker build -t kong-ts .
# Run:   docker run --rm -p 5555:5555 -v "$PWD/kong.yml:/etc/kong-ts/kong.yml:ro" kong-ts
# (Not built in CI here: the build machine has no container engine. Keep this file plain.)

# ---- build: all dependencies, compile TypeScript to dist/ ----
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: "prepare" runs tsc, and the sources are not copied yet
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
COPY schemas ./schemas
COPY bin ./bin
COPY binding.gyp ./
COPY native ./native
# the native addon (native/: the TCP pump and the UDP relay): node:20-slim has no compiler, so install one for this
# stage only; if the build fails anyway, the image runs the TypeScript data paths (src/net/native-addon.ts)
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 make g++ >/dev/null \
  && (npm run build:native || true) && mkdir -p build
# tsconfig also includes test/ and examples/; build only what ships
RUN npx tsc -p tsconfig.json --rootDir . --outDir dist \
  && test -f dist/src/cli/main.js \
  && npm prune --omit=dev --ignore-scripts

# ---- run: production dependencies and the compiled code only, as a non-root user ----
FROM node:20-slim
ENV NODE_ENV=production \
    KONG_PREFIX=/var/lib/kong-ts \
    KONG_DECLARATIVE_CONFIG=/etc/kong-ts/kong.yml \
    KONG_STREAM_LISTEN="0.0.0.0:5555" \
    KONG_ADMIN_LISTEN="127.0.0.1:8001" \
    KONG_PROXY_STREAM_ACCESS_LOG=stdout \
    KONG_PROXY_STREAM_ERROR_LOG=stdout
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/schemas ./schemas
COPY --from=build /app/bin ./bin
COPY --from=build /app/build ./build
COPY kong.yml.example /etc/kong-ts/kong.yml
# the node image's unprivileged user (uid 1000); the prefix holds the pid file and generated certificates
RUN ln -s /app/bin/kong-ts /usr/local/bin/kong-ts \
  && mkdir -p /var/lib/kong-ts \
  && chown node:node /var/lib/kong-ts
USER node
# stream listener (change with KONG_STREAM_LISTEN); the admin API stays on loopback inside the container
EXPOSE 5555
# `docker stop` and runtimes that honour the image's stop signal (containerd, so most Kubernetes nodes) send
# SIGQUIT: stop accepting, let open sessions finish (10 s), then exit. Give `docker stop -t 15` or more.
STOPSIGNAL SIGQUIT
# `kong-ts health` checks the pid file and GET /status on the loopback admin API
HEALTHCHECK --interval=15s --timeout=5s --start-period=5s CMD ["kong-ts", "health"]
ENTRYPOINT ["kong-ts"]
CMD ["start"]
