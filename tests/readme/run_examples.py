#!/usr/bin/env python3
"""Runs the README's examples against a live txgate, so the README cannot drift.

Every fenced ```sh block preceded by a `<!-- ci-example: ... -->` comment is run
with bash (localhost:50051 replaced by the address given); the comment lists
`expect="..."` substrings the output must contain, and `fail` when the command
must exit non-zero (an error example).

    run_examples.py README.md 127.0.0.1:PORT
"""
import re
import subprocess
import sys

MARK = re.compile(r'<!-- ci-example:(.*?)-->\s*\n```sh\n(.*?)\n```', re.S)
EXPECT = re.compile(r'expect="((?:[^"\\]|\\.)*)"')


def main() -> int:
    readme, address = sys.argv[1], sys.argv[2]
    text = open(readme, encoding="utf-8").read()
    examples = MARK.findall(text)
    if not examples:
        print("no ci-example blocks found", file=sys.stderr)
        return 1
    failures = 0
    for i, (spec, script) in enumerate(examples, 1):
        must_fail = re.search(r"\bfail\b", EXPECT.sub("", spec)) is not None
        expects = [e.replace('\\"', '"') for e in EXPECT.findall(spec)]
        run = script.replace("localhost:50051", address)
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", run],
                              capture_output=True, text=True, timeout=60)
        out = proc.stdout + proc.stderr
        problems = []
        if must_fail and proc.returncode == 0:
            problems.append("expected a failure, got exit 0")
        if not must_fail and proc.returncode != 0:
            problems.append(f"exit {proc.returncode}")
        problems += [f"missing {e!r}" for e in expects if e not in out]
        first = script.strip().splitlines()[0]
        if problems:
            failures += 1
            print(f"FAIL example {i}: {first}\n  " + "; ".join(problems) + "\n" + out)
        else:
            print(f"ok   example {i}: {first}")
    print(f"{len(examples) - failures}/{len(examples)} README examples passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
