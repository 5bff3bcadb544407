"""The Python examples of README.md and client/README.md, run against a live
txgate (TXGATE_ADDR), so the documentation cannot drift. An example is a
```python block preceded by `<!-- py-example -->`; localhost:50051 is replaced
by the live address, and a file's examples run in order (later ones may use
what earlier ones made)."""

import contextlib
import io
import re

import pytest

from conftest import REPO

MARK = re.compile(r"<!-- py-example -->\s*\n```python\n(.*?)\n```", re.S)


@pytest.mark.parametrize("doc", ["README.md", "client/README.md"])
def test_python_examples_run(doc, addr):
    examples = MARK.findall((REPO / doc).read_text(encoding="utf-8"))
    assert examples, f"no py-example blocks in {doc}"
    for i, code in enumerate(examples, 1):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code.replace("localhost:50051", addr), f"{doc} example {i}", "exec"),
                 {"__name__": "__example__"})
    if doc == "README.md":
        assert out.getvalue() == "42\n"
