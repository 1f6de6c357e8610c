# mailsift — make run | build | test | check | fuzz | bench
#
# make test needs root on a Debian machine: it installs Postfix, m4, swaks and
# redis-server from Debian's packages and extracts Sendmail (installing sendmail-bin
# would remove Postfix) when they are missing, then runs every test,
# end-to-end ones included.

GO        ?= go
VERSION   := $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS   := -X main.version=$(VERSION)
SM_ROOT   := /opt/sm
STATICCHECK_VERSION := v0.8.2
FUZZTIME  ?= 10s

.PHONY: run build test check fuzz bench deps clean

run:
	$(GO) run -ldflags "$(LDFLAGS)" ./cmd/mailsift run $(if $(CONFIG),-c $(CONFIG))

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/mailsift ./cmd/mailsift

test: deps
	MAILSIFT_E2E=require $(GO) test -race -count=1 ./...

# What the tests need, from Debian's packages, only when missing.
deps:
	@if [ "$$(id -u)" != 0 ]; then \
		command -v postfix >/dev/null && command -v redis-server >/dev/null && [ -x $(SM_ROOT)/usr/libexec/sendmail/sendmail ] || \
		{ echo "make test: run as root so that Postfix and Sendmail can be installed and started"; exit 1; }; \
	fi
	@if ! command -v postfix >/dev/null || ! command -v m4 >/dev/null || ! command -v swaks >/dev/null || ! command -v unshare >/dev/null || ! command -v redis-server >/dev/null; then \
		echo "installing postfix, m4, swaks, redis-server from Debian's packages"; \
		export DEBIAN_FRONTEND=noninteractive; \
		printf 'postfix postfix/main_mailer_type select No configuration\npostfix postfix/mailname string localhost\n' | debconf-set-selections; \
		apt-get update -qq && apt-get install -y -q --no-install-recommends postfix m4 swaks liblockfile1 libwrap0 util-linux redis-server; \
	fi
	@if [ ! -x $(SM_ROOT)/usr/libexec/sendmail/sendmail ]; then \
		echo "extracting sendmail into $(SM_ROOT) (not installed: sendmail-bin would remove postfix)"; \
		d=$$(mktemp -d) && cd $$d && apt-get download sendmail-bin sendmail-cf sendmail-base && \
		for f in *.deb; do dpkg-deb -x $$f $(SM_ROOT); done && rm -rf $$d; \
	fi

check:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt wants changes in:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# Short runs of every fuzz target; FUZZTIME=5m for a longer one.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./config
	$(GO) test -run '^$$' -fuzz '^FuzzHelo$$' -fuzztime $(FUZZTIME) ./checks
	$(GO) test -run '^$$' -fuzz '^FuzzParseReply$$' -fuzztime $(FUZZTIME) ./checks
	$(GO) test -run '^$$' -fuzz '^FuzzParseAddress$$' -fuzztime $(FUZZTIME) ./checks
	$(GO) test -run '^$$' -fuzz '^FuzzHostname$$' -fuzztime $(FUZZTIME) ./checks
	$(GO) test -run '^$$' -fuzz '^FuzzFromDomain$$' -fuzztime $(FUZZTIME) ./checks
	$(GO) test -run '^$$' -fuzz '^FuzzDMARCRecord$$' -fuzztime $(FUZZTIME) ./checks
	$(GO) test -run '^$$' -fuzz '^FuzzRecord$$' -fuzztime $(FUZZTIME) ./internal/spf
	$(GO) test -run '^$$' -fuzz '^FuzzSession$$' -fuzztime $(FUZZTIME) ./milter
	$(GO) test -run '^$$' -fuzz '^FuzzAuthServID$$' -fuzztime $(FUZZTIME) ./milter
	$(GO) test -run '^$$' -fuzz '^FuzzSplitMessage$$' -fuzztime $(FUZZTIME) ./milter

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./... | tee bench.txt

clean:
	rm -rf bin bench.txt
