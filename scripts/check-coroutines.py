#!/usr/bin/env python3
"""Fails on the two coroutine forms that GCC 12 miscompiles (see daemon/core/asio.h).

1. A lambda with by-value captures as a temporary inside a `co_await` expression.
2. `co_await` inside a conditional expression (`c ? co_await a() : co_await b()`).
GCC 12 destroys such temporaries twice: a double free that only sanitizers or a crash show.
Captures by reference, `this` and the pointers in POINTER_CAPTURES are trivially destructible.
"""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Captures known to be pointers (trivially destructible) at the call sites that use them.
POINTER_CAPTURES = {"c", "cancel"}


def expression_after(text: str, start: int) -> str:
    depth = 0
    for j in range(start, len(text)):
        ch = text[j]
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                return text[start:j]
        elif ch == ";" and depth == 0:
            return text[start:j]
    return text[start:]


def without_comments(text: str) -> str:
    """Blanks comments and string literals, keeping line breaks (and so line numbers)."""
    pattern = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"', re.S)
    return pattern.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def problems_in(name: str, source: str) -> list:
    text = without_comments(source)
    problems = []
    for m in re.finditer(r"\bco_await\b", text):
        expr = expression_after(text, m.end())
        for lam in re.finditer(r"\[([^\[\]]*)\]\s*(\(|\{|mutable|->)", expr):
            caps = [c.strip() for c in lam.group(1).split(",") if c.strip()]
            by_value = [c for c in caps if c != "this" and not c.startswith("&")
                        and c not in POINTER_CAPTURES]
            if by_value:
                line = text.count("\n", 0, m.start()) + 1
                problems.append(f"{name}:{line}: lambda capturing {', '.join(by_value)} by "
                                "value is a temporary in a co_await expression (GCC 12 "
                                "destroys it twice): name it and std::move it in")
    for m in re.finditer(r"\?[^;?{}]*\bco_await\b", text):
        line = text.count("\n", 0, m.start()) + 1
        problems.append(f"{name}:{line}: co_await inside a conditional expression (GCC 12 "
                        "destroys its result twice): use if/else")
    return problems


SELF_TEST = """
awaitable<int> bad(std::string id) {
  // co_await [id] in a comment is fine
  co_return co_await asio::co_spawn(strand_, [this, id]() -> awaitable<int> { co_return 1; },
                                    use_awaitable);
}
awaitable<int> good(std::string id) {
  auto body = [id]() -> awaitable<int> { co_return 1; };
  co_await asio::co_spawn(strand_, std::move(body), use_awaitable);
  co_await store_.commit([&](WriteTx& tx) { return tx.put(id); });
  co_return co_await offload(pool, [c] { return 1; });
}
awaitable<R> worse(bool plan) {
  R r = plan ? co_await a() : co_await b();
}
"""


def main() -> int:
    found = problems_in("self-test.cpp", SELF_TEST)
    if (len(found) != 2 or not found[0].startswith("self-test.cpp:4: lambda capturing id ")
            or not found[1].startswith("self-test.cpp:14: co_await inside a conditional")):
        print("the checker itself is broken:", found)
        return 2
    files = subprocess.check_output(
        ["git", "ls-files", "-co", "--exclude-standard", "--", "*.cpp", "*.h"], cwd=ROOT, text=True
    ).split()
    problems = []
    for name in files:
        path = ROOT / name
        if path.is_file():
            problems += problems_in(name, path.read_text(errors="replace"))
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
