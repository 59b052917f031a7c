# synchub: `make run` starts the demo, `make test` runs every test.
GO        ?= go
BIN       := bin
# chaos is a test-only plugin: tests build it themselves.
PLUGINS   := $(filter-out chaos,$(notdir $(wildcard plugins/*)))
GOFLAGS_BUILD ?=

.PHONY: all build plugins run test test-short bench bench-full proto fmt vet clean

all: build

build: $(BIN)/synchub plugins device

$(BIN)/synchub: FORCE
	$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/synchub ./host/cmd/synchub

device: FORCE
	@if [ -d client/cmd/synchub-device ]; then $(GO) build $(GOFLAGS_BUILD) -o $(BIN)/synchub-device ./client/cmd/synchub-device; fi

plugins: FORCE
	@mkdir -p $(BIN)/plugins
	@for p in $(PLUGINS); do \
		echo "build plugin $$p"; \
		$(GO) build $(GOFLAGS_BUILD) -o $(BIN)/plugins/$$p ./plugins/$$p || exit 1; \
	done

run: build
	$(BIN)/synchub dev

test:
	$(GO) test -race -timeout 20m ./...

test-short:
	$(GO) test -short ./...

bench: build
	@if [ -d bench ]; then $(GO) run ./bench $(BENCHFLAGS); else echo "no benchmarks yet (issue: benchmarks)"; fi

# bench-full runs the large sizes (a million records) into their own report.
bench-full: build
	$(GO) run ./bench --full --out docs/BENCHMARKS-full.md --profile-dir docs/bench/full $(BENCHFLAGS)

# proto regenerates sdk/proto from connector.proto. Needs protoc
# (Debian: protobuf-compiler) and the Go plugins at the pinned versions.
proto:
	$(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
	$(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.5.1
	cd sdk/proto && PATH="$$($(GO) env GOPATH)/bin:$$PATH" protoc \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative connector.proto

fmt:
	gofmt -w $$(git ls-files '*.go' | grep -v '\.pb\.go$$')

vet:
	$(GO) vet ./...

clean:
	rm -rf $(BIN)

FORCE:
