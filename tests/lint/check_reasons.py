#!/usr/bin/env python3
"""Fails if the README's error reasons disagree with txgate.v1.ErrorReason.

    python3 tests/lint/check_reasons.py     # run by tests/run.sh's lint step

proto/txgate/v1/error_reason.proto is the one list of the reasons txgate sends
in google.rpc.ErrorInfo.reason. This check keeps README.md true to it:
  - the "Error reasons" table (after its `<!-- error-reasons ... -->` marker)
    has one row per enum value but ERROR_REASON_UNSPECIFIED, in enum order;
  - every reason the README names elsewhere is in the enum: a `NAME` after the
    word "reason", and any backticked ALL_CAPS_NAME with an underscore that is
    neither a gRPC code nor one of the few other identifiers listed below.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto/txgate/v1/error_reason.proto"
README = ROOT / "README.md"
MARKER = "<!-- error-reasons:"

GRPC_CODES = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
    "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
    "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
    "UNAUTHENTICATED",
}
# Backticked ALL_CAPS names in the README that are not reasons.
NOT_REASONS = {"COM_RESET_CONNECTION", "GET_LOCK", "LOAD_FILE", "NOT_SERVING", "AUTO_INCREMENT", "LAST_INSERT_ID",
               "FOUND_ROWS", "ROW_COUNT", "RELEASE_LOCK", "SQL_CALC_FOUND_ROWS", "MASTER_GTID_WAIT",
               "MASTER_DELAY", "READ_ROUTING_REPLICA", "READ_ROUTING_PRIMARY",
               "NO_BACKSLASH_ESCAPES", "ANSI_QUOTES"}  # SQL and API words
NOT_REASON_PREFIXES = ("TXGATE_", "XAER_", "SERVER_STATUS_", "CLIENT_", "MYSQL_", "COM_")  # env vars, MySQL protocol words


def enum_values(text):
    body = re.search(r"enum\s+ErrorReason\s*\{(.*?)\n\}", text, re.S)
    if not body:
        sys.exit(f"check_reasons: no `enum ErrorReason` in {PROTO}")
    no_comments = re.sub(r"//[^\n]*", "", body.group(1))
    return [(name, int(num)) for name, num in re.findall(r"\b([A-Z][A-Z0-9_]*)\s*=\s*(\d+)\s*;",
                                                         no_comments)]


def table_reasons(lines):
    """Reasons in the first column of the table after the marker, with line numbers."""
    start = next((i for i, l in enumerate(lines) if l.startswith(MARKER)), None)
    if start is None:
        return None
    rows = []
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if not line.startswith("|"):
            if rows:
                break
            continue
        first = line.split("|")[1].strip()
        if first in ("reason", "---"):
            continue
        m = re.fullmatch(r"`([A-Z][A-Z0-9_]*)`", first)
        rows.append((m.group(1) if m else first, i + 1))
    return rows


def named_reasons(lines):
    """(name, line) for every reason-looking name in the README."""
    found = []
    for i, line in enumerate(lines, 1):
        for group in re.findall(r"\breasons?\s+((?:`[A-Z][A-Z0-9_]*`(?:\s*(?:/|,|or)\s*)?)+)",
                                line):
            found += [(n, i) for n in re.findall(r"`([A-Z][A-Z0-9_]*)`", group)]
        for name in re.findall(r"`([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+)`", line):
            if (name in GRPC_CODES or name in NOT_REASONS
                    or name.startswith(NOT_REASON_PREFIXES)):
                continue
            found.append((name, i))
    return found


def main():
    values = enum_values(PROTO.read_text())
    errors = []
    if ("ERROR_REASON_UNSPECIFIED", 0) not in values:
        errors.append(f"{PROTO.relative_to(ROOT)}: ERROR_REASON_UNSPECIFIED = 0 is missing")
    reasons = [n for n, _ in values if n != "ERROR_REASON_UNSPECIFIED"]
    known = set(reasons)

    lines = README.read_text().splitlines()
    rows = table_reasons(lines)
    if rows is None:
        errors.append(f"README.md: no error-reasons table (a line starting with {MARKER!r})")
    else:
        listed = [n for n, _ in rows]
        if listed != reasons:
            for name, line in rows:
                if name not in known:
                    errors.append(f"README.md:{line}: table row `{name}` is not in ErrorReason")
            for name in reasons:
                if name not in listed:
                    errors.append(f"README.md: ErrorReason value {name} has no row in the table")
            if sorted(listed) == sorted(reasons):
                errors.append("README.md: the error-reasons table is not in enum order: "
                              + " ".join(reasons))
            elif len(listed) != len(set(listed)):
                errors.append("README.md: the error-reasons table lists a reason twice")
    for name, line in sorted(set(named_reasons(lines)), key=lambda f: (f[1], f[0])):
        if name not in known:
            errors.append(f"README.md:{line}: `{name}` is named as a reason but is not in "
                          f"ErrorReason ({PROTO.relative_to(ROOT)})")

    if errors:
        print("\n".join(f"check_reasons: {e}" for e in errors), file=sys.stderr)
        return 1
    print(f"check_reasons: README.md matches the {len(reasons)} values of ErrorReason")
    return 0


if __name__ == "__main__":
    sys.exit(main())
