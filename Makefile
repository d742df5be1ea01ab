# Common tasks. `make test` is what .ci/run runs once redis-server is
# installed; the differential tests skip (with a message) without it.

GO ?= go
FUZZTIME ?= 30s

.PHONY: test bench fuzz

test:
	$(GO) vet ./... && $(GO) test -race ./...

# Side by side with redis-server; pass flags with ARGS="-n 100000 -P 1,16,64".
bench:
	$(GO) run ./bench/sidebyside $(ARGS)

# Each fuzz target for FUZZTIME (go test -fuzz runs one target at a time).
fuzz:
	$(GO) test ./internal/resp -run '^$$' -fuzz '^FuzzRequestReader$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/resp -run '^$$' -fuzz '^FuzzSplitArgs$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/resp -run '^$$' -fuzz '^FuzzReadReply$$' -fuzztime $(FUZZTIME)
