#!/usr/bin/env bash
# The main job, from a fresh Debian machine: install what is missing, build,
# and run a real program (python3) under hakmem with LD_PRELOAD, printing
# what hakmem served it.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/deps.sh"
"$top/scripts/build.sh"
lib="$top/build/.libs/libhakmem.so"
py=$(command -v /usr/bin/python3 || command -v python3)
echo "== $py under hakmem (hakmem-ctl run --stats: what hakmem served it)"
PYTHONMALLOC=malloc "$top/build/ctl/hakmem-ctl" run --lib "$lib" --stats -- "$py" -c '
import json, collections
words = ["w%d" % (i % 5000) for i in range(300000)]
counts = collections.Counter(words)
doc = json.dumps({k: [v] * 4 for k, v in counts.items()})
print("python3: %d distinct words, %d bytes of JSON" % (len(counts), len(doc)))
'
