# The README's two commands are `make demo` (or `go run ./cmd/gatehouse serve --demo`)
# and `make test`. Everything else here is a convenience.
GO ?= go
PKGS := ./...

.PHONY: all build demo test vet fmt fuzz clean

all: build

build:
	$(GO) build -o bin/gatehouse ./cmd/gatehouse

demo:
	$(GO) run ./cmd/gatehouse serve --demo

# The whole suite: formatting, vet, every test with the race detector (which runs every
# fuzz target's seed corpus), and one pass of the page benchmarks. Tests that need
# PostgreSQL, Redis or NATS skip unless GATEHOUSE_TEST_* are set; .ci/run sets them.
test: vet
	@unformatted=$$(gofmt -l .); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) test -race -count=1 -timeout 20m $(PKGS)
	@# The page-render benchmarks behind issue 7's figure run once, so that they cannot
	@# break unnoticed; the figure itself comes from a real run (docs/benchmarks.md).
	$(GO) test -run '^$$' -bench . -benchtime 1x ./internal/portal/ ./internal/dashboard/

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w .

# Fuzz each target for FUZZTIME (default 20s): make fuzz FUZZTIME=1m
FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list $(PKGS)); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin gatehouse-data

# The gateway benchmark against nginx and Caddy (docs/benchmarks.md); about 2 minutes,
# writes docs/benchmarks.md. A smoke run: make bench BENCH_ARGS=--quick
.PHONY: bench
bench:
	bench/run.sh $(BENCH_ARGS)

# The shared rate limit across two nodes (Redis at $GATEHOUSE_TEST_REDIS, default
# redis://127.0.0.1:6379/0): two runs of 20 s, under a minute; writes docs/benchmarks.md.
# Options: make bench-redis BENCH_REDIS_ARGS='--runs 3 --no-docs'
.PHONY: bench-redis
bench-redis:
	bench/redis-limit.sh $(BENCH_REDIS_ARGS)

# SSE fan-out through Gatehouse and Debian's Pushpin 1.36 (message_rate=0), 10,000
# subscribers, about 9 minutes; writes docs/benchmarks.md.
# A smoke run: make bench-realtime BENCH_REALTIME_ARGS=--quick
.PHONY: bench-realtime
bench-realtime:
	bench/realtime.sh $(BENCH_REALTIME_ARGS)

# Analytics counts under load: 20,000 req/s for 60 s through one pinned node, twice (no
# policies; key-auth + a plan's rate limit); the query API must count exactly what the
# load generator got answered. 3 to 4 minutes; writes docs/benchmarks.md.
# A smoke run: make bench-analytics BENCH_ANALYTICS_ARGS=--quick
.PHONY: bench-analytics
bench-analytics:
	bench/analytics-load.sh $(BENCH_ANALYTICS_ARGS)
