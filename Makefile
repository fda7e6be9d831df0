# tenantgate — see README.md. `make test` works on a fresh machine: as root it
# installs what the tests need (Debian packages, the npm fixtures) first.

GO        ?= go
PKGS      ?= ./...
BENCHTIME ?= 1s
COUNT     ?= 6
FUZZTIME  ?= 10s

.PHONY: all test deps vet lint bench fuzz run clean

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

## run: the main job on embedded defaults. Today that is the dev identity
## provider with its demo directory (two tenants, demo users, a confidential
## app), on https://127.0.0.1:8443 until Ctrl-C; its CA certificate is
## written to devidp-ca.pem for clients to trust.
run:
	$(GO) run ./cmd/tenantgate devidp --ca-out devidp-ca.pem

## lint: formatting and vet.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt -l:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## bench: benchmarks, COUNT runs each, written to bench.txt for benchstat.
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) -count $(COUNT) $(PKGS) | tee bench.txt

## fuzz: a short run of every fuzz target (FUZZTIME each).
fuzz:
	@./scripts/fuzz.sh $(FUZZTIME)

clean:
	rm -f bench.txt devidp-ca.pem
