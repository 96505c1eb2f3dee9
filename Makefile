# CloudCart. `make help` lists the targets; `make run` and `make test` are
# the two commands the README starts with, and CI runs `make test`.

GO          ?= go
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
# The race detector roughly doubles test time; CI has room for it.
TESTFLAGS   ?= -race -count=1 -timeout 40m
BENCHFLAGS  ?= -run '^$$' -benchmem -benchtime 2s

.PHONY: help run build test lint fmt vet check-fmt bench clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: ## run the whole fleet and the embedded Prometheus in one process
	$(GO) run ./cmd/cloudcart run

build: ## build bin/cloudcart
	$(GO) build -o bin/cloudcart ./cmd/cloudcart

test: vet check-fmt lint ## vet, format check, staticcheck, then every test (race detector on)
	$(GO) test $(TESTFLAGS) ./...

vet: ## go vet
	$(GO) vet ./...

check-fmt: ## fail if gofmt would change a file
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

lint: ## staticcheck
	$(STATICCHECK) ./...

fmt: ## gofmt -w
	gofmt -w $$(git ls-files '*.go')

bench: ## run the Go benchmarks
	$(GO) test $(BENCHFLAGS) -bench . ./...

clean: ## remove build output and the default data dir
	rm -rf bin data
