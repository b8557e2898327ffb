#!/usr/bin/env bash
# Wide random exploration of the property tests: fresh random examples (hypothesis profile "fuzz", no example
# database), 10,000 per property by default. Run it whenever a reader changes (IDX, config, CLI overrides, run
# names, run/study folder files, image folders, caches). CI runs the same tests on a fixed draw
# (tests/conftest.py, profile "fixed"), so its outcome depends on the commit alone.
#   bench/fuzz.sh                 10,000 examples per property (about 20-25 min on 2 cores: 600 took 78 s)
#   bench/fuzz.sh 2000 -x         fewer examples; further arguments go to pytest
# A failure prints the falsifying example and a @reproduce_failure blob to paste into the test.
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-10000}"
[ $# -gt 0 ] && shift
export GENLAB_FUZZ=1 GENLAB_FUZZ_EXAMPLES="$n" GENLAB_QUIET=1
export GENLAB_DATA="${GENLAB_DATA:-$(cd .. && pwd)/shared/data}"
echo "fuzz: $n fresh examples per property, $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
exec bin/genlab test -m "slow or not slow" -p no:cacheprovider -q \
  tests/test_safety.py tests/test_hostile.py tests/test_hostile_inputs.py "$@" \
  -k "answers_only or answer_only or never_escape or random_damage or random_hostile"
