# imagebuild: `make image` builds the example service with the python-alpine
# recipe; `make test` runs every test, starting buildkitd and a registry, and
# fails when the integration tests cannot run.

SHELL := /bin/bash
comma := ,
GO ?= go
RECIPE ?= python-alpine
CONTEXT ?= examples/incident-tracker
OUT ?= out
# PLATFORM: target platforms, comma-separated (linux/amd64,linux/arm64); default the daemon's own.
PLATFORM ?=
IMAGEBUILD := bin/imagebuild
# PIP_CONF: a pip.conf for the team's private index, passed as the pipconf secret.
PIP_CONF ?=
# TAG: the name make image loads the image under when it builds on Docker's engine.
TAG ?= imagebuild/incident-tracker:dev

.PHONY: help build image buildkitd buildkitd-stop trivy deps test unit fuzz lint golden clean

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{ printf "%-16s%s\n", $$1, $$2 }'

build: ## build bin/imagebuild
	$(GO) build -o $(IMAGEBUILD) ./cmd/imagebuild

image: build ## build CONTEXT (default: the example service) with RECIPE into $(OUT)/image.oci.tar; with Docker running (and no BUILDKIT_HOST), on Docker's engine, loaded as $(TAG)
	@addr="$${BUILDKIT_HOST:-}"; load=; \
	if [ -z "$$addr" ] && command -v docker >/dev/null && docker info >/dev/null 2>&1; then \
		addr=docker://; load="--load -t $(TAG)"; echo "make image: building on Docker's engine, loaded as $(TAG)" >&2; fi; \
	if [ -z "$$addr" ]; then addr=$$(bash scripts/buildkitd.sh) || exit 1; fi; \
	mkdir -p $(OUT) && \
	$(IMAGEBUILD) build $(RECIPE) --addr "$$addr" --context $(CONTEXT) $(if $(PLATFORM),--platform $(PLATFORM)) \
		$(if $(PIP_CONF),--secret id=pipconf$(comma)src=$(PIP_CONF)) $$load \
		--output type=oci,dest=$(OUT)/image.oci.tar --metadata-file $(OUT)/metadata.json

buildkitd: ## build and start buildkitd (as root, in the background, with QEMU emulation for foreign platforms) at go.mod's BuildKit version; prints its address
	@bash scripts/buildkitd.sh

buildkitd-stop: ## stop the buildkitd that make buildkitd, make image or make test started
	@bash scripts/buildkitd.sh stop

trivy: ## build Trivy at the version the CI gate pins (cached); prints its path
	@bash scripts/trivy.sh

deps: ## install with apt what the tests need: runc, docker-registry, debootstrap, openssh-server, mmdebstrap, qemu-user-static, python3-pip
	@bash scripts/deps.sh

test: deps ## every test, integration tests included, one package at a time (they share the daemon, and some empty its cache): sets up buildkitd (left running), the test bases, Trivy and the Docker Engines first; fails, naming what is missing, when they cannot run
	@addr=$$(bash scripts/test-setup.sh) || exit 1; \
	echo "IMAGEBUILD_INTEGRATION=1 BUILDKIT_HOST=$$addr $(GO) test -p 1 -count=1 -timeout 60m ./..."; \
	IMAGEBUILD_INTEGRATION=1 BUILDKIT_HOST="$$addr" $(GO) test -p 1 -count=1 -timeout 60m ./...

unit: ## unit tests only (no daemon; integration tests skip with -short)
	$(GO) test -count=1 -short ./...

# FUZZTIME: how long make fuzz runs each fuzz target.
FUZZTIME ?= 1m

fuzz: ## run each fuzz target (the readers of bytes from outside: requirements, PEP 440 versions, OCI tarballs and layouts, SBOMs) for FUZZTIME; make test runs their seed corpora
	@set -e; for f in $$(grep -l '^func Fuzz' $$(find . -name '*_test.go' -not -path './examples/*')); do \
		pkg=./$$(dirname $$f); \
		for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "$(GO) test $$pkg -run '^$$' -fuzz '^$$t\$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 50x"; \
			$(GO) test $$pkg -run '^$$' -fuzz "^$$t\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 50x; \
		done; \
	done

lint: ## gofmt, go vet (for linux, darwin and windows), staticcheck, go mod tidy (the example recipe module too), the command cross-compiled
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: the files above need gofmt -w" >&2; exit 1; }
	$(GO) vet ./...
	@for os in darwin windows; do echo "GOOS=$$os go vet ./... && go build ./cmd/imagebuild"; \
		GOOS=$$os $(GO) vet ./... && GOOS=$$os $(GO) build -o /dev/null ./cmd/imagebuild || exit 1; done
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	$(GO) mod tidy -diff
	cd examples/custom-recipe && $(GO) mod tidy -diff && $(GO) vet ./...

golden: ## refresh the golden LLB in testdata/
	$(GO) test ./recipes/ -run TestGolden -update

clean: ## remove build outputs
	rm -rf bin $(OUT)
