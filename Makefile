# Job Mediator — the README's two commands are `make run` and `make test`.
GO        ?= go
BIN       ?= bin/jobmediator
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/jobmediator/jobmediator/internal/version.Version=$(VERSION)
PROJECT   ?= examples/hello-upstream
# Packages with goroutines of their own run under the race detector.
RACE_PKGS := ./channels/... ./workflow/... ./mediator/... ./runtime/... ./store/... ./daemon/... ./internal/... ./sim/... ./console/...
GOTEST    ?= $(GO) test -count=1

.PHONY: build jmsim example run test test-race test-rest bench bench-go lint conformance-golden clean docker

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/jobmediator

# The simulators (OpenHIM core, DHIS2, FHIR, Primero, OSCaR) as one binary for
# the tour and the examples: bin/jmsim --help.
jmsim:
	$(GO) build -trimpath -o bin/jmsim ./sim/cmd/jmsim

# Runs one example once against the simulators and prints what was synced:
# make example NAME=fhir-to-dhis2 (examples/run.sh).
example: build jmsim
	@BIN='$(BIN)' exec examples/run.sh '$(NAME)'

# Starts the mediator on the example project with the embedded store and no
# OpenHIM (set OPENHIM_URL to register with a core). The recipe execs the
# binary, so Ctrl-C and `kill <make's pid>` (make forwards SIGTERM to its
# child) reach the mediator itself and it drains and frees the port and the
# data lock; no shell is left in between.
# The embedded store in $(DATA) keeps queued work (async requests, retries
# waiting for their backoff) across runs: a retry from an earlier run fires in
# the next one. `make run CLEAN=1` deletes the store first.
DATA ?= $(or $(JM_DATA_DIR),./data)
run: build
	$(if $(CLEAN),rm -f '$(DATA)/jobmediator.db' && echo 'CLEAN=1: removed the store in $(DATA)' &&) \
	JM_DATA_DIR='$(DATA)' exec '$(abspath $(BIN))' serve --project $(PROJECT) \
		--credentials $(PROJECT)/credentials.example.yaml

test: lint test-race test-rest

# runtime/isolate caps its worker processes' address space (RLIMIT_AS); the
# race detector's shadow memory cannot live under such a cap, so that package
# runs without -race, in test-rest.
NORACE_PKGS := /runtime/isolate$$

test-race:
	$(GOTEST) -race $$($(GO) list $(RACE_PKGS) 2>/dev/null | grep -v -E '$(NORACE_PKGS)')

test-rest:
	$(GOTEST) $$($(GO) list ./... | grep -v -E '/(channels|workflow|mediator|runtime|store|daemon|internal|sim|console)(/|$$)') \
		$$($(GO) list $(RACE_PKGS) 2>/dev/null | grep -E '$(NORACE_PKGS)')

# The side-by-side table (bench/README.md): routed transactions vs a bare Go
# handler, jobs vs @openfn/runtime in Node, store throughput. Writes
# bench/results/latest.json. BENCH_FLAGS e.g. "-repeats 5" or "-only jobs".
bench: build
	@if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then \
		[ -d bench/node/node_modules/@openfn/runtime ] || (cd bench/node && npm ci --no-audit --no-fund) \
		|| echo "bench: npm ci failed: the Node baseline will be skipped"; \
	else echo "bench: node is not installed: the Node baseline will be skipped"; fi
	$(GO) build -o bin/jmbench ./bench/cmd/jmbench
	./bin/jmbench $(BENCH_FLAGS)

# Go micro-benchmarks (allocs/op, store operations), not part of the table.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./...

# golangci-lint, pinned: staticcheck, errcheck, gosec, unused, govet,
# ineffassign and gofmt (.golangci.yml says what each exclusion is for). The
# first `make lint` installs it from the Go module proxy into bin/tools.
GOLANGCI_VERSION := v2.15.0
GOLANGCI         := bin/tools/golangci-lint-$(GOLANGCI_VERSION)

$(GOLANGCI):
	mkdir -p bin/tools
	GOBIN='$(abspath bin/tools)' $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)
	mv bin/tools/golangci-lint $@

lint: $(GOLANGCI)
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GOLANGCI) run --allow-parallel-runners ./...

# Regenerates conformance goldens with the real @openfn/runtime (needs Node
# and the npm registry); `make test` only compares against them.
conformance-golden:
	cd conformance/oracle && npm ci --no-audit --no-fund && node --experimental-vm-modules oracle.mjs ../corpus && node check.mjs ../corpus

docker:
	docker build -t jobmediator:$(VERSION) .

clean:
	rm -rf bin dist
