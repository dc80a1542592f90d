# pgxperf developer entry points. `make test` is the project's test command and
# the only thing CI runs (.ci/run). Plain POSIX sh recipes; nothing sets GOFLAGS.

GO         ?= go
GOFMT      ?= $(shell $(GO) env GOROOT)/bin/gofmt
# make fuzz runs each NAME=PACKAGE of FUZZTARGETS for FUZZTIME; FUZZ=Name
# (with FUZZPKG, default ./internal/sqlinfo/) runs that one target instead.
FUZZTARGETS ?= FuzzAnalyze=./internal/sqlinfo/ FuzzPool=./pgxperf/
FUZZ       ?=
FUZZPKG    ?= ./internal/sqlinfo/
FUZZTIME   ?= 2m
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
GOLANGCI   ?= $(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.15.0
BENCH      ?= .
BENCHCOUNT ?= 6
BENCHOUT   ?= bench.out
BENCHSTAT  ?= $(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da

.DEFAULT_GOAL := help
.PHONY: help test test-short lint demo bench fuzz fmt vet env env-down

help:
	@echo 'make test      bring up the test servers, go vet, go test -race (and the same in bench/ if it is a module)'
	@echo 'make test-short  unit tests only, no servers needed (go test -short), under a minute'
	@echo 'make lint      go mod tidy -diff, staticcheck, golangci-lint (.golangci.yml)'
	@echo 'make demo      bring up the test servers, run go run ./cmd/pgxperf demo'
	@echo 'make bench     benchmarks (-count $(BENCHCOUNT)) into $(BENCHOUT), then benchstat'
	@echo 'make fuzz      bring up the test servers, fuzz each of $(FUZZTARGETS) for FUZZTIME=$(FUZZTIME) (FUZZ=Name FUZZPKG=./pkg/ for one)'
	@echo 'make fmt       gofmt -s -w every Go file'
	@echo 'make vet       go vet (and in bench/)'
	@echo 'make env       bash scripts/testenv.sh: Postgres primary :5432, replica :5433, Redis :6379'
	@echo 'make env-down  stop the test replica (the shared primary and Redis keep running)'

test: env lint
	$(GO) vet ./...
	CGO_ENABLED=0 $(GO) build ./...   # pgxperf must build without a C compiler (no parser then)
	CGO_ENABLED=0 $(GO) test -count=1 -run 'TestWithoutCgo' ./pgxperf/
	$(GO) test -race -count=1 ./...
	@# Memory-bound tests are skipped under -race (it inflates memory and time): run them without it.
	$(GO) test -count=1 -run 'TestCacheMemoryBound|TestMillionStatementsBoundedMemory' ./internal/sqlinfo/ ./n1detect/
	@if [ -f bench/go.mod ]; then \
		echo 'cd bench && $(GO) vet ./... && $(GO) test -race -count=1 ./...'; \
		cd bench && $(GO) vet ./... && $(GO) test -race -count=1 ./...; \
	fi

test-short:
	$(GO) test -short -count=1 ./...

lint:
	$(GO) mod tidy -diff
	@if [ -f bench/go.mod ]; then echo 'cd bench && $(GO) mod tidy -diff'; cd bench && $(GO) mod tidy -diff; fi
	$(STATICCHECK) ./...
	$(GOLANGCI) run ./...

demo: env
	$(GO) run ./cmd/pgxperf demo

# Runs the benchmarks of the main module and of bench/ (when it is a module) into
# one file, shown as it runs; fails if `go test` fails. benchstat needs network
# access the first time it is fetched; without it the raw file remains.
bench: env
	@rm -f $(BENCHOUT) $(BENCHOUT).rc
	@{ st=0; for d in . bench; do \
		[ -f $$d/go.mod ] || continue; \
		echo "# $$d: $(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count $(BENCHCOUNT) ./..."; \
		(cd $$d && $(GO) test -run '^$$' -bench '$(BENCH)' -benchmem -count $(BENCHCOUNT) ./...) || st=$$?; \
	done 2>&1; echo $$st > $(BENCHOUT).rc; } | tee $(BENCHOUT)
	@st=$$(cat $(BENCHOUT).rc); rm -f $(BENCHOUT).rc; exit $$st
	@$(BENCHSTAT) $(BENCHOUT) || echo "benchstat unavailable; raw results are in $(BENCHOUT)"

# FuzzPool needs the Postgres primary, hence env. Targets run one after the
# other; the first that fails stops make (its crasher is in the package's
# testdata/fuzz/<Name>/). A bare "context deadline exceeded" when FUZZTIME
# ends, with no crasher written, is Go's golang/go#75804 (fixed in Go 1.27).
fuzz: env
	@if [ -n '$(FUZZ)' ]; then targets='$(FUZZ)=$(FUZZPKG)'; else targets='$(FUZZTARGETS)'; fi; \
	for t in $$targets; do \
		name=$${t%%=*}; pkg=$${t#*=}; \
		echo "$(GO) test -run '^\$$' -fuzz '^$$name\$$' -fuzztime $(FUZZTIME) $$pkg"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || exit $$?; \
	done

fmt:
	$(GOFMT) -s -w .

vet:
	$(GO) vet ./...
	@if [ -f bench/go.mod ]; then echo 'cd bench && $(GO) vet ./...'; cd bench && $(GO) vet ./...; fi

env:
	bash scripts/testenv.sh

env-down:
	bash scripts/testenv.sh down
