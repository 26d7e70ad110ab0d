# Thin wrapper over CMake. `make test` and `make run` each work alone on a
# fresh Debian machine: they install what is missing first.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)
PREFIX ?= /usr/local
CONF ?= dist/pushrelay.conf
# What a quiet build drops from the build's stdout: "[ 42%] Building ...", "[ 42%] Built target
# ...", CMake's "-- Configuring done" when it reruns itself, and its dependency bookkeeping.
PROGRESS_LINES = -e '/^\[ *[0-9]*%\] /d' -e '/^-- /d' -e '/^Consolidate compiler generated dependencies/d'

.PHONY: all deps build run test unit integration asan asan-test clean format FORCE

all: build

deps:
	@dist/install-deps

# The install prefix is compiled in (the default conf path, cmake/conf_dir.cmake), so the build
# is configured with PREFIX and configured again when it changes: `make install PREFIX=/usr`
# installs a binary that reads /etc/pushrelay/pushrelay.conf. $(BUILD)/prefix holds the PREFIX
# of the last configure and changes only with it.
$(BUILD)/prefix: FORCE
	@mkdir -p $(BUILD)
	@echo '$(PREFIX)' | cmp -s - $@ || echo '$(PREFIX)' > $@

$(BUILD)/Makefile: CMakeLists.txt $(BUILD)/prefix
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX='$(PREFIX)' >/dev/null

# A build shows only what went wrong: errors and warnings (stderr) pass, progress does not.
# CMake 3.25 (Debian 12's) announces every object and target on stdout with no switch for the
# targets (CMAKE_TARGET_MESSAGES is 3.26), hence the filter; pipefail keeps the build's exit
# status through it.
build: SHELL := /bin/bash
build: .SHELLFLAGS := -o pipefail -c
build: deps $(BUILD)/Makefile
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory | sed -u $(PROGRESS_LINES)

run: build
	@mkdir -p logs
	$(BUILD)/pushrelay -p $(CURDIR) -c $(CONF) -g 'daemon off;'

# What the tests need beyond the build: man, Chromium, playwright-core (npm) to drive it in the
# browser tests (no browser download), nchan (npm), Nchan's own client, which the browser tests
# load from node_modules, and the GRIP libraries the test app of integration/grip_app is built on.
# npm ci runs again in a directory whenever one of its modules is missing (a tree installed
# before nchan joined package.json has playwright-core alone).
BROWSER_MODULES = playwright-core nchan
GRIP_APP_MODULES = @fanoutio/grip @fanoutio/serve-grip
# $(call npm_ci,DIR,MODULES): npm ci in DIR unless every one of MODULES is in DIR/node_modules.
npm_ci = $(foreach m,$(2),test -d $(1)/node_modules/$(m) &&) true || \
	(cd $(1) && npm ci --no-audit --no-fund --loglevel=error)
.PHONY: test-deps
test-deps:
	@dist/install-deps --test
	@$(call npm_ci,integration/browser,$(BROWSER_MODULES))
	@$(call npm_ci,integration/grip_app,$(GRIP_APP_MODULES))

# The package the install and upgrade test (integration/test_package.py) installs, built without
# its unit tests: they run here already.
test: build test-deps
	@$(MAKE) --no-print-directory deb DEB_BUILD_OPTIONS=nocheck
	cd $(BUILD) && PUSHRELAY_REQUIRE_BROWSER=1 ctest --output-on-failure

unit: build
	cd $(BUILD) && ctest --output-on-failure -R unit_

integration: build
	PUSHRELAY_BIN=$(CURDIR)/$(BUILD)/pushrelay /usr/bin/python3 -m pytest -q -p no:cacheprovider integration

# Installs the binary, the man pages, the systemd unit and the example conf
# (kept if already there) into $(DESTDIR)$(PREFIX); a /usr prefix puts the
# conf in /etc/pushrelay.
.PHONY: install
install: build
	DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix $(PREFIX)

# The Debian package (doc/decisions.md "Packaging"): dpkg-buildpackage (dh, CMake) on a copy of
# the tree (what git tracks or would track, uncommitted edits included) in $(DEB_BUILD)/pushrelay,
# so the checkout stays clean. It leaves $(DEB_BUILD)/pushrelay_<version>_<arch>.deb, then lintian
# checks it and fails on an error. The copy's CMake build directory (obj-*) is kept between runs,
# and the copied files keep their times, so a second `make deb` compiles only what changed.
# DEB_BUILD_OPTIONS=nocheck neither builds nor runs the unit tests.
DEB_BUILD ?= build-deb
DEB_SRC = $(DEB_BUILD)/pushrelay
DEB_FILE = $(DEB_BUILD)/pushrelay_$(shell dpkg-parsechangelog -l debian/changelog -S Version)_$(shell dpkg --print-architecture).deb
.PHONY: deb deb-deps
deb-deps:
	@dist/install-deps --package

deb: deb-deps
	@mkdir -p $(DEB_SRC)
	@find $(DEB_SRC) -mindepth 1 -maxdepth 1 ! -name 'obj-*' -exec rm -rf {} +
	@git ls-files -z --cached --others --exclude-standard | \
		tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C $(DEB_SRC)
	cd $(DEB_SRC) && dpkg-buildpackage -b -us -uc -nc -j$(JOBS) \
		$(if $(filter nocheck,$(DEB_BUILD_OPTIONS)),-Pnocheck) >../dpkg-buildpackage.log 2>&1 || \
		{ tail -40 ../dpkg-buildpackage.log; echo "make deb: failed, see $(DEB_BUILD)/dpkg-buildpackage.log" >&2; exit 1; }
	lintian --fail-on error $(DEB_FILE)
	@echo "make deb: $(DEB_FILE)"

# Ten minutes of churn; fails if the segment or the workers' RSS grows (bench/SOAK.md).
SOAK_SECONDS ?= 600
.PHONY: soak
soak: build
	PUSHRELAY_BIN=$(CURDIR)/$(BUILD)/pushrelay /usr/bin/python3 bench/soak.py $(SOAK_SECONDS)

asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPUSHRELAY_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)

asan-test: asan
	cd $(ASAN_BUILD) && ctest --output-on-failure

# The benchmark against nginx + Nchan, and the GRIP proxy against Pushpin and nginx proxy_pass (about
# 30 minutes: 3 runs per scenario and server, long-poll, the streaming transports and GRIP); writes
# bench/RESULTS.md and the plots. See bench/run.py.
BENCH_BUILD ?= build-bench
.PHONY: bench
bench:
	@dist/install-deps --bench
	@cmake -S . -B $(BENCH_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BENCH_BUILD) -j $(JOBS) --target pushrelay loadgen
	/usr/bin/python3 bench/run.py --build $(BENCH_BUILD)

# libFuzzer targets (clang, ASan, UBSan; build-fuzz/), each run FUZZ_SECONDS in turn. See doc/fuzzing.md.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz:
	@dist/install-deps --fuzz
	tests/fuzz/run.sh $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.cc' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
