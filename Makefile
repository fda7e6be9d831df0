# tenantgate — see README.md. `make test` works on a fresh machine: as root it
# installs what the tests need (Debian packages, the npm fixtures) first.

GO        ?= go
PKGS      ?= ./...
BENCHTIME ?= 1s
COUNT     ?= 6
FUZZTIME  ?= 10s

.PHONY: all test deps vet lint bench bench-gateway fuzz run clean

all: lint test

## deps: install the programs the tests run (redis-server, Node fixtures).
deps:
	@./scripts/deps.sh

## test: go vet, then every test with the race detector.
test: deps
	$(GO) vet $(PKGS)
	$(GO) test -race -count=1 -timeout 20m $(PKGS)

vet:
	$(GO) vet $(PKGS)

## run: the whole system on embedded defaults: the gateway with the dev
## identity provider in-process (tenants contoso and fabrikam, users alice,
## bob, fiona), memstore, generated keys and a demo app. Open the URL it
## prints and sign in; Ctrl-C stops it. RUNFLAGS adds flags of
## `tenantgate serve` (see `go run ./cmd/tenantgate serve --help`).
RUNFLAGS ?=
run:
	$(GO) run ./cmd/tenantgate serve $(RUNFLAGS)

## lint: formatting and vet.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt -l:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## bench: benchmarks, COUNT runs each, written to bench.txt for benchstat.
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(COUNT) $(PKGS) | tee bench.txt

## bench-gateway: the gateway side by side with a bare ReverseProxy,
## --pass-access-token and oauth2-proxy in one run, then one replica's RSS
## with 100k live sessions (cmd/tgload/compare; docs/performance.md).
## Installs oauth2-proxy with go install first if it is not in PATH.
## BENCHFLAGS adds flags of go run ./cmd/tgload/compare --help.
BENCHFLAGS ?=
bench-gateway: deps
	@command -v oauth2-proxy >/dev/null || [ -x "$$($(GO) env GOPATH)/bin/oauth2-proxy" ] || $(GO) install github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6
	$(GO) run ./cmd/tgload/compare --json bench-gateway.json $(BENCHFLAGS)

## fuzz: a short run of every fuzz target (FUZZTIME each).
fuzz:
	@./scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -f bench.txt bench-gateway.json devidp-ca.pem

## --- reliability (docs/reliability.md) -----------------------------------
## chaos: the chaos suite at length (TENANTGATE_CHAOS=long: 60 req/s, 15 s
## faults); its rows of figures are collected into chaos-table.md (columns as
## in docs/reliability.md). make test
## runs the same tests short.
## scale: 100k sessions of 10k users over 3 tenants: Redis bytes per session,
## L1 bytes, List page times, a replica's RSS (SCALE| lines, scale.log).
## soak: 3 replicas at half their flat-out throughput for SOAK (30m), tokens
## due every 3 minutes; RSS, goroutines and threads sampled into docs/soak.csv and
## docs/soak.svg. SOAK=3m SOAK_DUE=1m for a short run.
SOAK     ?= 30m
SOAK_DUE ?= 3m
.PHONY: chaos scale soak
chaos: deps
	rm -f chaos-table.md
	TENANTGATE_CHAOS=long TENANTGATE_CHAOS_TABLE=$(CURDIR)/chaos-table.md \
		$(GO) test -race -count=1 -timeout 30m -run '^TestChaos|^TestPartitioned|^TestReplicatedCluster|^TestFaults' -v \
		./cmd/tenantgate ./store/redisstore ./internal/redistest ./internal/faultproxy > chaos.log 2>&1; \
		rc=$$?; grep -h -o 'CHAOS|.*\|--- FAIL.*' chaos.log; cat chaos-table.md; exit $$rc
scale: deps
	$(GO) test -tags scale -count=1 -timeout 30m -run '^TestScale$$' -v ./cmd/tenantgate > scale.log 2>&1; \
		rc=$$?; grep -h -o 'SCALE|.*\|--- FAIL.*' scale.log; exit $$rc
soak: deps
	TENANTGATE_SOAK=$(SOAK) TENANTGATE_SOAK_DUE=$(SOAK_DUE) \
		$(GO) test -tags soak -count=1 -timeout 0 -run '^TestSoak$$' -v ./cmd/tenantgate > soak.log 2>&1; \
		rc=$$?; grep -h -o 'SOAK|.*\|--- FAIL.*\|soak: .*' soak.log; exit $$rc
