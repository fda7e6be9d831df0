# tenantgate: a static binary on distroless, running as non-root.
#   docker build -t tenantgate .
#   docker run -p 8080:8080 tenantgate serve --listen :8080 --public-url http://localhost:8080
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/tenantgate ./cmd/tenantgate

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tenantgate /tenantgate
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/tenantgate"]
CMD ["serve", "--listen", ":8080"]
