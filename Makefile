# imager — build, payload, tests. See README.md for the two commands that matter.
OUT     ?= out
CACHE   ?= $(OUT)/cache
BUILD   := $(OUT)/build
PREFIX  ?= /usr/local
DESTDIR ?=
ARCHES  ?= amd64 arm64

CC      ?= gcc
PKGS    := libsquashfs1 libarchive libzstd liblzma zlib openssl yaml-0.1 fdisk libisoburn-1
WARN    := -Wall -Wextra -Werror
CFLAGS  ?= -O2 -g
ALL_CFLAGS  = -std=gnu11 $(WARN) $(CFLAGS) -Iinclude -D_GNU_SOURCE \
              -DIMAGER_SOURCE_DIR='"$(CURDIR)"' -DIMAGER_PREFIX='"$(PREFIX)"' \
              $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LIBS    = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
SAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

LIB_SRCS       := $(sort $(wildcard lib/*/*.c))
IMAGER_SRCS    := $(sort $(wildcard imager/*.c))
INSTALLER_SRCS := $(sort $(wildcard installer/*.c))
UNIT_SRCS      := $(sort $(wildcard tests/unit/*/test_*.c))
HEADERS        := $(wildcard include/imager/*.h include/imager/*/*.h lib/*/*.h imager/*.h installer/*.h)

LIB_OBJS      := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
LIB_OBJS_SAN  := $(LIB_SRCS:%.c=$(BUILD)/san/%.o)
UNIT_BINS     := $(addprefix $(BUILD)/tests/,$(basename $(notdir $(UNIT_SRCS))))

# Unit tests mirror lib/<group>/; their binaries sit flat in $(BUILD)/tests/.
vpath test_%.c $(sort $(dir $(UNIT_SRCS)))

.PHONY: all deps payload extensions check lint unit e2e install clean iso format help fuzz fuzz-seeds bench
all: deps bin/imager bin/installer $(BUILD)/libimager.a

help:
	@echo "targets: deps all payload extensions iso check lint unit e2e install clean format fuzz fuzz-seeds bench"

# Debian packages needed to build and test; installs only the missing ones.
deps:
	@pkgs/deps.sh

$(BUILD)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/san/%.o: %.c $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SAN) -c -o $@ $<

# The built-in profiles are embedded with .incbin: rebuild when one changes.
$(BUILD)/obj/lib/talos/profile_builtin.o $(BUILD)/san/lib/talos/profile_builtin.o: $(wildcard profiles/*.yaml)
# So are the kernel-config/ fragments.
$(BUILD)/obj/lib/talos/kfrag_builtin.o $(BUILD)/san/lib/talos/kfrag_builtin.o: $(wildcard kernel-config/*.config)

$(BUILD)/libimager.a: $(LIB_OBJS)
	@rm -f $@
	ar rcsD $@ $^

$(BUILD)/libimager-san.a: $(LIB_OBJS_SAN)
	@rm -f $@
	ar rcsD $@ $^

bin/imager: $(IMAGER_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/libimager.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

bin/installer: $(INSTALLER_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/libimager.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

# Sanitizer builds of the programs, used by the tests.
$(BUILD)/san/bin/imager: $(IMAGER_SRCS:%.c=$(BUILD)/san/%.o) $(BUILD)/libimager-san.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LIBS)

$(BUILD)/san/bin/installer: $(INSTALLER_SRCS:%.c=$(BUILD)/san/%.o) $(BUILD)/libimager-san.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN) -o $@ $^ $(LIBS)

$(BUILD)/tests/test_%: test_%.c $(BUILD)/libimager-san.a $(HEADERS)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SAN) -Itests/unit -o $@ $< $(BUILD)/libimager-san.a $(LIBS) -lcmocka

# ---- fuzzing (tests/fuzz/README.md) -----------------------------------------------------
# One libFuzzer target per parser, built twice: with clang's libFuzzer driver for
# `make fuzz FUZZ_S=N` (N seconds per target), and with tests/fuzz/replay.c's main() in
# the normal sanitizer build, which `make check` runs over the corpus and the regressions.
FUZZ_SRCS   := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_NAMES  := $(basename $(notdir $(FUZZ_SRCS)))
FUZZ_CC     ?= clang
FUZZ_S      ?= 60
FUZZ_SAN    := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_BINS   := $(addprefix $(BUILD)/fuzz/,$(FUZZ_NAMES))
REPLAY_BINS := $(addprefix $(BUILD)/fuzz-replay/,$(FUZZ_NAMES))

$(BUILD)/fuzz/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(ALL_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link -c -o $@ $<

$(BUILD)/libimager-fuzz.a: $(LIB_SRCS:%.c=$(BUILD)/fuzz/obj/%.o)
	@rm -f $@
	ar rcsD $@ $^

$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(BUILD)/libimager-fuzz.a
	@mkdir -p $(@D)
	$(FUZZ_CC) $(ALL_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $< $(BUILD)/libimager-fuzz.a $(LIBS)

$(BUILD)/fuzz-replay/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c tests/fuzz/fuzz.h $(BUILD)/libimager-san.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $< tests/fuzz/replay.c $(BUILD)/libimager-san.a $(LIBS)

$(BUILD)/fuzz/mkseeds: tests/fuzz/mkseeds.c $(BUILD)/libimager.a
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libimager.a $(LIBS)

fuzz: deps $(FUZZ_BINS)
	@BUILD=$(BUILD) OUT=$(OUT) FUZZ_S=$(FUZZ_S) tests/fuzz/run.sh $(FUZZ_NAMES)

# Rewrite the checked-in seed corpora with the project's own writers.
fuzz-seeds: $(BUILD)/fuzz/mkseeds
	$(BUILD)/fuzz/mkseeds tests/fuzz/corpus

# Default inputs (kernel, stubs, GRUB images, reference initramfs) from Debian packages.
payload: all
	@OUT=$(OUT) CACHE=$(CACHE) pkgs/payload.sh $(ARCHES)

# The README's main job: default inputs, then the hybrid BIOS+UEFI ISO of the built-in
# default (profile iso, amd64) in $(OUT)/metal-amd64.iso.
iso: payload
	bin/imager iso --output $(OUT) --quiet
	@echo "make iso: wrote $(OUT)/metal-amd64.iso. Boot it, e.g.:"
	@echo "  qemu-system-x86_64 -m 1024 -nographic -boot d -cdrom $(OUT)/metal-amd64.iso    (BIOS, CD)"
	@echo "  qemu-system-x86_64 -M q35 -m 1024 -nographic -bios /usr/share/ovmf/OVMF.fd -drive file=$(OUT)/metal-amd64.iso,format=raw    (UEFI, disk)"
	@echo "(add --extra-kernel-arg console=ttyS0 to the imager to see the init on a serial console)"

# Example system extensions (extensions/*/build.sh OUTDIR ARCH) into $(OUT)/extensions/.
extensions: deps
	@for a in $(ARCHES); do extensions/hello-world/build.sh $(OUT)/extensions $$a || exit 1; done

unit: deps $(UNIT_BINS) $(REPLAY_BINS)
e2e: payload $(BUILD)/san/bin/imager $(BUILD)/san/bin/installer

# Quick checks first (seconds): clang-format clean, includes follow the layers of lib/.
lint: deps
	@tests/lint/format.sh
	@tests/lint/layers.py

check: deps lint all $(UNIT_BINS) $(REPLAY_BINS) $(BUILD)/san/bin/imager $(BUILD)/san/bin/installer payload extensions
	@OUT=$(OUT) BUILD=$(BUILD) tests/run.sh

# The benchmark of issue 15 (bench/run.sh, README "Benchmark"): every output against the
# standard tools and a physical limit, one table. BENCH_ARGS: e.g. --runs 5, --payload-mb
# 400, --quick (what tests/e2e/90-bench-quick.sh runs in `make check`).
BENCH_ARGS ?=
bench: deps all payload extensions
	@OUT=$(OUT) bench/run.sh $(BENCH_ARGS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include/imager
	install -m 0755 bin/imager bin/installer $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 $(BUILD)/libimager.a $(DESTDIR)$(PREFIX)/lib/
	install -m 0644 include/imager/*.h $(DESTDIR)$(PREFIX)/include/imager/
	@for d in include/imager/*/; do g=$$(basename $$d); \
		install -d $(DESTDIR)$(PREFIX)/include/imager/$$g && \
		install -m 0644 $$d*.h $(DESTDIR)$(PREFIX)/include/imager/$$g/ || exit 1; done
	install -d $(DESTDIR)$(PREFIX)/share/imager/kernel-config
	install -m 0644 kernel-config/*.config $(DESTDIR)$(PREFIX)/share/imager/kernel-config/
	@for a in $(ARCHES); do if [ -d $(OUT)/install/$$a ]; then \
		install -d $(DESTDIR)$(PREFIX)/share/imager/install; \
		cp -R $(OUT)/install/$$a $(DESTDIR)$(PREFIX)/share/imager/install/; fi; done

# Rewrites every C file of the tree with the root .clang-format (what lint checks).
format:
	git ls-files --cached --others --exclude-standard '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf bin $(BUILD)
