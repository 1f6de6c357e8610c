# mailsift — make run | build | install | test | check | fuzz | bench
#
# make test needs root on a Debian machine: it installs Postfix, m4, swaks,
# redis-server, xmllint (libxml2-utils) and python3-authres (the independent Authentication-Results
# parser the tests read our headers with) from Debian's packages and
# extracts Sendmail (installing sendmail-bin would remove Postfix) when they
# are missing, then runs every test, end-to-end ones included.

GO        ?= go
VERSION   := $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS   := -X main.version=$(VERSION)
SM_ROOT   := /opt/sm
STATICCHECK_VERSION := v0.8.2
FUZZTIME  ?= 10s
# Minimizing each new input the fuzzer finds may take this long at most
# (Go's default, 60s, ate a whole FUZZTIME on FuzzParse's large seeds).
FUZZMINIMIZETIME ?= 1s

# make install PREFIX=/usr DESTDIR=/tmp/pkg: the binary, the example config
# (never over an existing one) and the systemd unit, pointing at each other.
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SYSCONFDIR ?= /etc
UNITDIR    ?= $(PREFIX)/lib/systemd/system

# What the tests need from Debian's packages: the MTAs' neighbours, Redis
# and Sentinel, the independent parsers the tests check our output with
# (python3-authres for Authentication-Results, python3-dkim for DKIM
# signatures, xmllint for DMARC report XML). DEB_SERVICES are left neither
# started nor enabled: the tests start their own.
DEB_PACKAGES := postfix m4 swaks liblockfile1 libwrap0 util-linux redis-server redis-sentinel python3-authres python3-dkim libxml2-utils
DEB_SERVICES := postfix redis-server redis-sentinel
DEPS_PRESENT := command -v postfix >/dev/null && command -v m4 >/dev/null && command -v swaks >/dev/null && \
	command -v unshare >/dev/null && command -v redis-server >/dev/null && command -v redis-sentinel >/dev/null && \
	command -v xmllint >/dev/null && /usr/bin/python3 -c 'import authres, dkim, dns.resolver' 2>/dev/null

.PHONY: run build install test check fuzz bench deps clean

# Built, then exec'd: mailsift is make's own child, so stopping make (its
# PID, or Ctrl-C) stops the milter; "go run" would leave it running.
run: build
	exec bin/mailsift run $(if $(CONFIG),-c $(CONFIG))

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/mailsift ./cmd/mailsift

install: build
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/mailsift $(DESTDIR)$(UNITDIR)
	install -m 0755 bin/mailsift $(DESTDIR)$(BINDIR)/mailsift
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/mailsift/mailsift.toml ]; then \
		echo "$(DESTDIR)$(SYSCONFDIR)/mailsift/mailsift.toml exists: the example goes to mailsift.toml.example"; \
		install -m 0640 contrib/mailsift.toml $(DESTDIR)$(SYSCONFDIR)/mailsift/mailsift.toml.example; \
	else \
		install -m 0640 contrib/mailsift.toml $(DESTDIR)$(SYSCONFDIR)/mailsift/mailsift.toml; \
	fi
	sed -e 's|/usr/local/bin/mailsift|$(BINDIR)/mailsift|g' -e 's|/etc/mailsift/|$(SYSCONFDIR)/mailsift/|g' \
		contrib/systemd/mailsift.service > $(DESTDIR)$(UNITDIR)/mailsift.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/mailsift.service

test: deps
	MAILSIFT_E2E=require $(GO) test -race -count=1 ./...

# What the tests need, from Debian's packages, only when missing.
deps:
	@if [ "$$(id -u)" != 0 ]; then \
		$(DEPS_PRESENT) && [ -x $(SM_ROOT)/usr/libexec/sendmail/sendmail ] || \
		{ echo "make test: run as root so that Postfix and Sendmail can be installed and started"; exit 1; }; \
	fi
	@if ! { $(DEPS_PRESENT); }; then \
		echo "installing $(DEB_PACKAGES) from Debian's packages"; \
		export DEBIAN_FRONTEND=noninteractive; \
		printf 'postfix postfix/main_mailer_type select No configuration\npostfix postfix/mailname string localhost\n' | debconf-set-selections; \
		new=; for p in $(DEB_SERVICES); do dpkg -s $$p >/dev/null 2>&1 || new="$$new $$p"; done; \
		rcd=; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 0755 /usr/sbin/policy-rc.d; rcd=1; fi; \
		apt-get update -qq && apt-get install -y -q -o DPkg::Lock::Timeout=300 --no-install-recommends $(DEB_PACKAGES); \
		st=$$?; [ -n "$$rcd" ] && rm -f /usr/sbin/policy-rc.d; \
		for p in $$new; do \
			echo "the tests start their own $$p: not starting or enabling the host's service"; \
			systemctl disable --quiet $$p.service >/dev/null 2>&1 || DPKG_MAINTSCRIPT_PACKAGE=$$p deb-systemd-helper disable $$p.service >/dev/null 2>&1; \
			update-rc.d -f $$p disable >/dev/null 2>&1; \
			if [ -d /run/systemd/system ]; then systemctl stop $$p.service >/dev/null 2>&1; fi; \
		done; \
		[ $$st = 0 ] || exit $$st; \
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
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./internal/settings
	$(GO) test -run '^$$' -fuzz '^FuzzHelo$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./checks
	$(GO) test -run '^$$' -fuzz '^FuzzParseReply$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./checks
	$(GO) test -run '^$$' -fuzz '^FuzzParseAddress$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./checks
	$(GO) test -run '^$$' -fuzz '^FuzzHostname$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./checks
	$(GO) test -run '^$$' -fuzz '^FuzzFromDomain$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./checks
	$(GO) test -run '^$$' -fuzz '^FuzzDMARCRecord$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./checks
	$(GO) test -run '^$$' -fuzz '^FuzzAuthResValue$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./checks
	$(GO) test -run '^$$' -fuzz '^FuzzSession$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./milter
	$(GO) test -run '^$$' -fuzz '^FuzzAuthServID$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./milter
	$(GO) test -run '^$$' -fuzz '^FuzzRecord$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./internal/spf
	$(GO) test -run '^$$' -fuzz '^FuzzLogLine$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./internal/trace
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./internal/dsn
	$(GO) test -run '^$$' -fuzz '^FuzzParseReport$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./internal/dmarcreport
	$(GO) test -run '^$$' -fuzz '^FuzzParseURI$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./internal/dmarcreport
	$(GO) test -run '^$$' -fuzz '^FuzzSPFWalk$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./internal/doctor
	$(GO) test -run '^$$' -fuzz '^FuzzReadReply$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./bench/policybench
	$(GO) test -run '^$$' -fuzz '^FuzzStandards$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./checks
	$(GO) test -run '^$$' -fuzz '^FuzzLoginLine$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./checks
	$(GO) test -run '^$$' -fuzz '^FuzzAuthorDomain$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./checks
	$(GO) test -run '^$$' -fuzz '^FuzzParsePEM$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./internal/dkimsign
	$(GO) test -run '^$$' -fuzz '^FuzzSplitMessage$$' -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) ./milter

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 5 ./... | tee bench.txt

clean:
	rm -rf bin bench.txt
