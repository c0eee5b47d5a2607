# llm-failover, the ext_proc server. Built by docker-compose.yml; also usable alone:
#   docker build -t llm-failover . && docker run -v $PWD/examples/config.yaml:/etc/llm-failover/config.yaml llm-failover
FROM golang:1.26.8 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/llm-failover ./cmd/llm-failover

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/llm-failover /usr/local/bin/llm-failover
# 50051: ext_proc gRPC (server.grpc_address); 9464: /healthz, /readyz, /metrics (server.admin_address)
EXPOSE 50051 9464
ENTRYPOINT ["/usr/local/bin/llm-failover"]
CMD ["serve", "--config", "/etc/llm-failover/config.yaml"]
