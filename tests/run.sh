#!/usr/bin/env bash
# The whole test suite, as README.md's second command runs it on a fresh
# Debian 12 machine as root: installs every dependency (packaging/deps.sh),
# builds, runs ctest; then builds again with AddressSanitizer,
# UndefinedBehaviorSanitizer and libFuzzer and runs the suite once more,
# fuzz targets included.  Exit 0 only when both passes are green.
#
#   bash tests/run.sh            everything
#   BITSYNC_SKIP_SANITIZE=1 ...  only the plain build (a quick local check)
#   BITSYNC_FUZZ_SECONDS=600 ... each fuzz target that long (default 30 s
#                                here, so ten targets fit CI's time; a
#                                longer campaign by hand)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
jobs=$(nproc)

bash packaging/deps.sh || exit 1

status=0
step() { echo; echo "==== $*"; }

step "plain build (build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
  cmake --build build -j"$jobs" || exit 1
step "ctest (build/)"
ctest --test-dir build --output-on-failure --timeout 900 || status=1

if [ -z "${BITSYNC_SKIP_SANITIZE:-}" ]; then
  step "sanitizer build (build-san/: clang, ASan+UBSan, libFuzzer)"
  CC=clang cmake -S . -B build-san -DCMAKE_BUILD_TYPE=Debug \
      -DBITSYNC_SANITIZE=ON -DBITSYNC_FUZZ=ON \
      -DBITSYNC_FUZZ_SECONDS="${BITSYNC_FUZZ_SECONDS:-30}" &&
    cmake --build build-san -j"$jobs" || exit 1
  # Packaging installs the plain build's .deb, the benchmark smoke run and
  # the Wine tests cross-build for Windows: none of them exercise
  # sanitized code, so they run once, above.
  step "ctest under ASan+UBSan, fuzzing included (build-san/)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-san --output-on-failure --timeout 900 \
      -LE 'packaging|bench|wine' || status=1
fi

echo
[ "$status" -eq 0 ] && echo "bitsync: all test passes green" ||
  echo "bitsync: some tests FAILED (see above)"
exit "$status"
