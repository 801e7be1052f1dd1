# rawkit — raw-socket network diagnostics. `make help` lists the targets.

SHELL       := /bin/bash
GO          ?= go
PREFIX      ?= /usr/local
BIN         := bin
TOOLS       := $(notdir $(wildcard cmd/*))
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
# Debian packages the lab, the tests (as oracles) and the benchmarks use.
DEB_PACKAGES := iproute2 iptables iputils-ping fping traceroute mtr-tiny nmap masscan tcpdump tshark libcap2-bin procps util-linux tmux socat time

# urfave_cli_no_docs leaves out urfave/cli's man-page generator (and its
# markdown library): a smaller binary that starts about 2 ms sooner.
TAGS        := urfave_cli_no_docs

VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS     := -s -w -X github.com/rawkit/rawkit/report.version=$(VERSION)

export CGO_ENABLED := 0

.PHONY: help build test lint compat bench demo install deps fuzz clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## static binaries of every tool into ./bin
	@mkdir -p $(BIN)
	$(GO) build -tags $(TAGS) -trimpath -ldflags='$(LDFLAGS)' -o $(BIN)/ ./cmd/...

deps: ## install the Debian packages the lab and tests need (root, apt-get)
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

test: deps build ## unit, integration (namespace lab, needs root) and differential tests
	@# Once without the race detector (the lab tests of the tools run once,
	@# below), then everything with it: the lab tests' harness too, while
	@# the tools they run stay CGO_ENABLED=0 builds (internal/labtest), so
	@# their capability drop stays real.
	$(GO) test -count=1 -timeout 30m $$($(GO) list ./... | grep -v -e /cmd/ -e /internal/labtest)
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 30m ./...

lint: ## gofmt, go vet, staticcheck, builds for darwin and freebsd
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@# The pure packages serve other systems; the tools build there and say
	@# "Linux only" (exit 4).
	GOOS=darwin $(GO) build ./... && GOOS=freebsd $(GO) build ./...

fuzz: ## run every fuzz target for FUZZTIME each (default 20s)
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    $(GO) test -run XXX -fuzz "^$$f$$" -fuzztime $${FUZZTIME:-20s} $$pkg || exit 1; \
	  done; \
	done

compat: deps build ## the figures against tcpdump/libpcap on their own test material (filters, files, lines)
	$(GO) test -count=1 -v -run 'TestLibpcapFilterTables' ./filter/ | grep -E "libpcap's filter tables|^(ok|FAIL|---)"
	$(GO) test -count=1 -v -run 'TestFilterTablesOnSavefiles|TestEverySavefileCount|TestTCPLinesLikeTcpdump' ./cmd/sniff/ | grep -E "apply table|savefiles read|of [0-9]+ |^(ok|FAIL|---)"

bench: deps build ## side-by-side benchmarks against the reference tools (root)
	$(GO) run ./bench

demo: deps build ## build, create a private namespace lab, run every tool in it, tear it down (root)
	$(GO) run ./internal/demo

install: build ## install into $(PREFIX)/bin: ping, traceroute with cap_net_raw for all; sniff, portscan only for CAPTURE_GROUP (root)
	install -d $(DESTDIR)$(PREFIX)/bin
	@# ping and traceroute are for every user, as iputils' ping is.
	@for t in ping traceroute; do \
	  install -m 0755 $(BIN)/$$t $(DESTDIR)$(PREFIX)/bin/$$t; \
	  setcap cap_net_raw+ep $(DESTDIR)$(PREFIX)/bin/$$t; \
	done
	@# sniff reads every packet of the host and portscan raw-scans from it:
	@# the capability only for members of CAPTURE_GROUP (mode 0750), as
	@# tcpdump and nmap are never installed for everyone; without the
	@# group, installed without any capability (run them as root).
	@# COMPAT=1: the classic names that speak another dialect (ping as
	@# fping). Not by default: an install shadows no tool it was not asked to.
	@if [ -n "$(COMPAT)" ]; then ln -sf ping $(DESTDIR)$(PREFIX)/bin/fping; ln -sf traceroute $(DESTDIR)$(PREFIX)/bin/mtr; fi
	@# Man pages (section 8) and bash, zsh and fish completions, written
	@# by each tool from the flag table it reads its command line with.
	install -d $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	  $(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
	@for t in $(TOOLS); do \
	  $(BIN)/$$t --generate-man > $(DESTDIR)$(PREFIX)/share/man/man8/$$t.8 && \
	  $(BIN)/$$t --generate-completion bash > $(DESTDIR)$(PREFIX)/share/bash-completion/completions/$$t && \
	  $(BIN)/$$t --generate-completion zsh > $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_$$t && \
	  $(BIN)/$$t --generate-completion fish > $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/$$t.fish || exit 1; \
	done
	@for t in sniff portscan; do \
	  if [ -n "$(CAPTURE_GROUP)" ]; then \
	    install -m 0750 -g $(CAPTURE_GROUP) $(BIN)/$$t $(DESTDIR)$(PREFIX)/bin/$$t && \
	    setcap cap_net_raw+ep $(DESTDIR)$(PREFIX)/bin/$$t; \
	  else \
	    install -m 0755 $(BIN)/$$t $(DESTDIR)$(PREFIX)/bin/$$t; \
	  fi; \
	done

clean: ## remove build output
	rm -rf $(BIN)
