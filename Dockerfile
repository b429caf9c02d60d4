# Job Mediator image: a static binary on distroless, non-root, with a
# HEALTHCHECK that needs no curl (`jobmediator healthcheck` asks /readyz).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/jobmediator/jobmediator/internal/version.Version=${VERSION}" \
      -o /out/jobmediator ./cmd/jobmediator \
 && mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/jobmediator /jobmediator
COPY --from=build --chown=nonroot:nonroot /out/data /data
COPY examples /examples
ENV SERVER_PORT=4001 \
    JM_DATA_DIR=/data \
    JM_PROJECT=/examples/hello-upstream
EXPOSE 4001
VOLUME ["/data"]
USER nonroot:nonroot
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 CMD ["/jobmediator", "healthcheck"]
ENTRYPOINT ["/jobmediator"]
CMD ["serve"]
