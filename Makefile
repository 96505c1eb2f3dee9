# CloudCart. `make help` lists the targets; `make run` and `make test` are
# the two commands the README starts with, and CI runs `make test`.

GO          ?= go
# staticcheck is a tool of go.mod (`tool` directive): `go tool staticcheck`
# builds it once into the build cache, at the version go.sum pins.
STATICCHECK ?= $(GO) tool staticcheck
# The race detector roughly doubles test time; CI has room for it. The
# main module's packages run in two groups (scripts/test.sh):
#  - HEAVY, the packages whose tests run whole fleets (in-process or as
#    processes): one package at a time (-p 1), because two of them racing
#    for two cores under the race detector make timeouts, not findings;
#  - every other package, two at a time (-p 2). This group runs first and
#    compiles the race build of the graph with both cores (under -p 1 the
#    go command compiles one package at a time too), so the heavy group
#    only compiles and links its own test binaries.
#
# RACEFLAGS: three kinds of code are compiled without the race detector's
# instrumentation; none shares memory with ours beyond the buffers a call
# passes, and each is a hot loop the detector slows with nothing to find:
#  - SQLite's C code, machine-translated to Go (modernc.org/sqlite/lib), with
#    its C library (modernc.org/libc): instrumented, it doubled the CPU of
#    every test that stores anything; with the cgo SQLite driver the same
#    code would be C, which the race detector never sees;
#  - the Blowfish cipher under bcrypt (golang.org/x/crypto/blowfish): 1.2 s
#    per password hash at cost 10 instead of 0.09 s, 6% of internal/fleet's
#    CPU, and a test's first login queued seconds behind the others;
#  - DEFLATE (compress/flate), which gzips every /metrics answer the
#    engine and the aggregator fetch: ten times slower instrumented, 7% of
#    internal/fleet's CPU.
# Measured in docs/testing.md. The callers, our packages and the libraries'
# Go code (modernc.org/sqlite, bcrypt, compress/gzip) included, stay
# instrumented: what is given up is only a race between those loops'
# reads of a buffer passed to them and a write to it elsewhere.
RACEFLAGS   ?= -race -gcflags=modernc.org/sqlite/lib=-race=false -gcflags=modernc.org/libc/...=-race=false \
	-gcflags=golang.org/x/crypto/blowfish=-race=false -gcflags=compress/flate=-race=false
TESTFLAGS   ?= $(RACEFLAGS) -count=1 -timeout 60m
HEAVY       ?= ./internal/fleet/ ./internal/learn/ $(TOOLPKGS)
# The heavy package whose tests also run the programs .ci/run builds in
# the background (the OTel Collector, k6): make test runs it last and waits
# for those builds only just before it.
TOOLPKGS    ?= ./cmd/cloudcart/
# The failure scenarios' end-to-end test asserts that a healthy fleet pages
# nobody for a minute, its latency SLO included: it runs without the race
# detector (which slows the fleet 5-10x and would make a 2-core machine, not
# the fleet, burn the latency budget), and make test runs it in the
# background from right after the main module's vet, at a higher priority
# than the tests beside it (scripts/test.sh).
E2EPKGS     ?= ./internal/scenario/
E2EFLAGS    ?= -count=1 -timeout 20m
# Test-only modules nested in the repository, each with its own go.mod, so
# that their libraries stay out of the main one: the deployment files'
# validation (compose-go, kustomize, Kubernetes API types) and the browser
# tests (chromedp). They test the main module's code through a replace
# directive. Their tests run without the race detector: they check files
# and a page in a browser, and the race detector covers the fleet's code in
# internal/fleet's tests.
NESTED      ?= deploy/validate e2e
NESTEDFLAGS ?= -count=1 -timeout 20m
BENCHFLAGS  ?= -run '^$$' -benchmem -benchtime 2s
# ARGS are passed to `cloudcart run`: make run ARGS='--users.admin-email a@b.c'
ARGS        ?=
# Every file `make generate` writes; check-generated compares them.
GENERATED   := deploy/prometheus/rules/slo.generated.yml deploy/grafana/dashboards \
	deploy/k8s/base/prometheusrule.yaml deploy/k8s/base/init-databases.sql docs/tutorial.md
# Prints a phase's duration after it (CI's log shows where the time goes).
PHASE       := scripts/phase.sh

.PHONY: help run build bin/cloudcart test test-static test-light test-heavy test-heavy-notools test-heavy-tools test-nested test-scenarios lint fmt vet vet-main vet-nested lint-main lint-nested check-fmt check-size \
	generate check-generated print-generated bench clean screenshots fuzz

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_\/-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: bin/cloudcart ## build bin/cloudcart if a source changed, then run the whole fleet and the embedded Prometheus (ARGS='--flag value ...')
	bin/cloudcart run $(ARGS)

build: bin/cloudcart ## build bin/cloudcart

# go build is the dependency check: it relinks only when a Go source, an
# embedded file or go.mod changed, and otherwise leaves bin/cloudcart as it
# is (the first build compiles about 1,100 packages: see README.md).
bin/cloudcart:
	$(GO) build -o $@ ./cmd/cloudcart

test: ## everything CI checks: sizes, format, generated files, vet, staticcheck, every test of every module (race detector on; the scenarios' end-to-end test without it, beside the others): scripts/test.sh
	@scripts/test.sh

test-static: ## test's checks without tests: sizes, format, vet, generated files, staticcheck
	@$(PHASE) check-size $(MAKE) -s check-size
	@$(PHASE) check-fmt $(MAKE) -s check-fmt
	@$(PHASE) vet $(MAKE) -s vet
	@$(PHASE) check-generated $(MAKE) -s check-generated
	@$(PHASE) lint $(MAKE) -s lint

test-light: ## the race tests' first group: every package but HEAVY and the scenarios, two at a time
	$(GO) test $(TESTFLAGS) -p 2 $$($(GO) list ./... | grep -v -e '/internal/scenario$$' $(foreach p,$(HEAVY),-e '$(patsubst ./%/,/%,$(p))$$'))

test-heavy: test-heavy-notools test-heavy-tools ## the race tests' second group: the packages that run whole fleets (HEAVY), one at a time

test-heavy-notools: # HEAVY but TOOLPKGS (scripts/test.sh)
	$(GO) test $(TESTFLAGS) -p 1 $(filter-out $(TOOLPKGS),$(HEAVY))

test-heavy-tools: # TOOLPKGS (scripts/test.sh)
	$(GO) test $(TESTFLAGS) -p 1 $(TOOLPKGS)

test-nested: ## the nested modules' tests (deploy/validate, e2e)
	@set -e; for m in $(NESTED); do echo "== $$m"; (cd $$m && $(GO) test $(NESTEDFLAGS) ./...); done

test-scenarios: ## the failure scenarios' end-to-end test, without the race detector
	$(GO) test $(E2EFLAGS) $(E2EPKGS)

vet: vet-main vet-nested ## go vet, every module

vet-main:
	$(GO) vet ./...

vet-nested:
	@set -e; for m in $(NESTED); do (cd $$m && $(GO) vet ./...); done

check-fmt: ## fail if gofmt would change a file
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

check-size: ## fail on a tracked file over 1 MiB (build output, data)
	@scripts/check-size.sh

lint: lint-main lint-nested ## staticcheck, every module (the main go.mod's tool, run in each)

lint-main:
	$(STATICCHECK) ./...

lint-nested:
	@set -e; sc=$$($(GO) tool -n staticcheck); for m in $(NESTED); do (cd $$m && $$sc ./...); done

generate: bin/cloudcart ## regenerate every generated file: SLO rules, dashboards, Kubernetes files, docs/tutorial.md (commit the result)
	bin/cloudcart slo generate
	bin/cloudcart dashboards generate
	$(MAKE) -s k8s-generate
	$(GO) test -count=1 -run '^TestTutorialIsGenerated$$' ./internal/learn -update

check-generated: ## fail if `make generate` would change a generated file
	@scripts/check-generated.sh

print-generated:
	@echo $(GENERATED)

fmt: ## gofmt -w
	gofmt -w $$(git ls-files '*.go')

bench: ## run the Go benchmarks
	$(GO) test $(BENCHFLAGS) -bench . ./...

.PHONY: profile
profile: ## CPU, allocation, block and mutex profiles of the order benchmark, by stage, into profile/ (scripts/profile.sh; about a minute)
	scripts/profile.sh profile 2000

screenshots: ## regenerate docs/images/console-*.png (the console in headless chromium; a few minutes)
	cd e2e && CLOUDCART_SCREENSHOTS=$(CURDIR)/docs/images $(GO) test -count=1 -timeout 15m -run '^TestConsoleInBrowser$$' .

fuzz: ## run every Fuzz target for FUZZTIME (default 1m) each, one at a time (scripts/fuzz.sh)
	scripts/fuzz.sh $(or $(FUZZTIME),1m)

clean: ## remove build output and the default data dir
	rm -rf bin data

# ------------------------------------------------------------------ deploy
# The compose stack, the image and the Kubernetes manifests: docs/deploy.md.
# The infra-* and run-* names are reference 000's.

COMPOSE          ?= docker compose -f deploy/docker-compose.yml
IMAGE            ?= cloudcart:dev
VERSION          ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GATEWAY_URL      ?= http://localhost:8080
TRAFFIC_RATE     ?= 20
TRAFFIC_DURATION ?= 1m
K8S_OVERLAY      ?= dev
K8S_SECRETS      ?= deploy/k8s/overlays/$(K8S_OVERLAY)/secrets

.PHONY: image infra-up infra-down infra-clean infra-logs run-order run-gateway run-request run-traffic \
	k8s-generate k8s-secrets k8s-build k8s-apply k8s-delete

image: ## build the container image (IMAGE=cloudcart:dev) from deploy/Dockerfile
	docker build -f deploy/Dockerfile -t $(IMAGE) --build-arg VERSION=$(VERSION) .

infra-up: ## start the compose stack: 7 services, NATS, PostgreSQL, Prometheus, Alertmanager, Grafana, Collector, Jaeger
	$(COMPOSE) up -d --build --wait

infra-down: ## stop the compose stack (volumes kept)
	$(COMPOSE) down

infra-clean: ## stop the compose stack and delete its volumes
	$(COMPOSE) down -v

infra-logs: ## follow the compose stack's logs
	$(COMPOSE) logs -f

run-order: bin/cloudcart ## run the order service alone on :8003 (SQLite and NATS embedded)
	bin/cloudcart serve orders --bind 127.0.0.1 $(ARGS)

run-gateway: bin/cloudcart ## run the API gateway alone on :8080, in front of localhost's services
	bin/cloudcart serve gateway --bind 127.0.0.1 $(ARGS)

run-request: ## send one request through the gateway (GATEWAY_URL=http://localhost:8080)
	curl -fsS '$(GATEWAY_URL)/api/products?limit=3'; echo

run-traffic: bin/cloudcart ## generate load through the gateway (TRAFFIC_RATE/s for TRAFFIC_DURATION)
	bin/cloudcart load --target $(GATEWAY_URL) --rate $(TRAFFIC_RATE) --duration $(TRAFFIC_DURATION)

k8s-generate: ## regenerate deploy/k8s/base's PrometheusRule and init SQL from deploy/ (part of make generate)
	cd deploy/validate && $(GO) test -count=1 -run '^TestK8sGeneratedFiles$$' . -update

k8s-secrets: ## write random secrets for K8S_OVERLAY (dev|production) unless present (needs openssl)
	@mkdir -p $(K8S_SECRETS)
	@if [ ! -f $(K8S_SECRETS)/cloudcart.env ]; then \
		(umask 077; printf 'POSTGRES_PASSWORD=%s\nCHAOS_TOKEN=%s\nSERVICE_TOKEN=%s\n' "$$(openssl rand -hex 24)" "$$(openssl rand -hex 24)" "$$(openssl rand -hex 32)" \
			> $(K8S_SECRETS)/cloudcart.env) && echo "wrote $(K8S_SECRETS)/cloudcart.env"; fi
	@if [ ! -f $(K8S_SECRETS)/users-signing-key.pem ]; then \
		(umask 077; openssl genpkey -algorithm ed25519 -out $(K8S_SECRETS)/users-signing-key.pem) \
			&& echo "wrote $(K8S_SECRETS)/users-signing-key.pem"; fi

k8s-build: ## print the Kubernetes manifests of K8S_OVERLAY (kubectl kustomize)
	kubectl kustomize deploy/k8s/overlays/$(K8S_OVERLAY)

k8s-apply: k8s-secrets ## apply K8S_OVERLAY to the current kubectl context
	kubectl apply -k deploy/k8s/overlays/$(K8S_OVERLAY)

k8s-delete: ## delete K8S_OVERLAY's objects (PersistentVolumeClaims stay)
	kubectl delete -k deploy/k8s/overlays/$(K8S_OVERLAY)
