# CloudCart. `make help` lists the targets; `make run` and `make test` are
# the two commands the README starts with, and CI runs `make test`.

GO          ?= go
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
# The race detector roughly doubles test time; CI has room for it.
TESTFLAGS   ?= -race -count=1 -timeout 40m
# The failure scenarios' end-to-end test asserts that a healthy fleet pages
# nobody for a minute, its latency SLO included: it runs after the other
# packages, alone and without the race detector (which slows the fleet 5-10x
# and would make a 2-core machine, not the fleet, burn the latency budget).
E2EPKGS     ?= ./internal/scenario/
E2EFLAGS    ?= -count=1 -timeout 20m
BENCHFLAGS  ?= -run '^$$' -benchmem -benchtime 2s

.PHONY: help run build test lint fmt vet check-fmt bench clean screenshots fuzz

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

run: ## run the whole fleet and the embedded Prometheus in one process
	$(GO) run ./cmd/cloudcart run

build: ## build bin/cloudcart
	$(GO) build -o bin/cloudcart ./cmd/cloudcart

test: vet check-fmt lint ## vet, format check, staticcheck, then every test (race detector on; the scenarios' end-to-end test after, alone)
	$(GO) test $(TESTFLAGS) $$($(GO) list ./... | grep -v '/internal/scenario$$')
	$(GO) test $(E2EFLAGS) $(E2EPKGS)

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

screenshots: ## regenerate docs/images/console-*.png (the console in headless chromium; a few minutes)
	CLOUDCART_SCREENSHOTS=$(CURDIR)/docs/images $(GO) test -count=1 -timeout 15m -run '^TestConsoleInBrowser$$' ./internal/fleet/

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

run-order: ## run the order service alone on :8003 (SQLite and NATS embedded)
	$(GO) run ./cmd/cloudcart serve orders --bind 127.0.0.1

run-gateway: ## run the API gateway alone on :8080, in front of localhost's services
	$(GO) run ./cmd/cloudcart serve gateway --bind 127.0.0.1

run-request: ## send one request through the gateway (GATEWAY_URL=http://localhost:8080)
	curl -fsS '$(GATEWAY_URL)/api/products?limit=3'; echo

run-traffic: ## generate load through the gateway (TRAFFIC_RATE/s for TRAFFIC_DURATION)
	$(GO) run ./cmd/cloudcart load --target $(GATEWAY_URL) --rate $(TRAFFIC_RATE) --duration $(TRAFFIC_DURATION)

k8s-generate: ## regenerate deploy/k8s/base's PrometheusRule and init SQL from deploy/
	$(GO) test ./deploy -run TestK8sGeneratedFiles -count=1 -update

k8s-secrets: ## write random secrets for K8S_OVERLAY (dev|production) unless present (needs openssl)
	@mkdir -p $(K8S_SECRETS)
	@if [ ! -f $(K8S_SECRETS)/cloudcart.env ]; then \
		(umask 077; printf 'POSTGRES_PASSWORD=%s\nCHAOS_TOKEN=%s\n' "$$(openssl rand -hex 24)" "$$(openssl rand -hex 24)" \
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
