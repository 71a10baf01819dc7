#!/usr/bin/env python3
"""Check that no two modules of a crate import each other in a loop.

For each crate of the workspace (the library `src/`, the server `server/src/`, the CLI
`cli/src/`), builds the module graph (one node per module file: `log/segment/active`,
`engine/data`, ...): module A depends on module B when A's source names a path into B
(`crate::log::segment::Scan`, `super::format::encode_header`, `use child::Item`, ...).
Names the crate root re-exports (`crate::Error`) count as a dependency on the module they
come from. A module naming what an enclosing module defines (a child using its parent's
types, `super::Inner`) is inside that module's scope, not a dependency on it: the loops
this looks for are between modules that do not contain each other.

Prints every cycle (strongly connected component with more than one module) and exits 1 if
there is one. Usage: scripts/module_cycles.py [--graph] [CRATE_SRC_DIR ...]
(--graph also prints every edge; the directories default to the workspace's three crates)

Before the crates, a canary: a planted two-module loop (`a` naming `crate::b`, `b` naming
`super::a`) in a temporary crate must be reported, or the check itself is broken (exit 2).
"""

import os
import re
import sys
import tempfile

WORKSPACE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
CRATES = ["src", os.path.join("server", "src"), os.path.join("cli", "src")]
# The crate root file: a library's `lib.rs`, or a binary's `main.rs`.
ROOT_FILES = ["lib", "main"]


def module_files(root):
    """Map module path (tuple of names) -> file, for every .rs file under `root`."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), root)
            parts = rel[:-3].split(os.sep)
            if len(parts) == 1 and parts[0] in ROOT_FILES:
                parts = []
            elif parts[-1] == "mod":
                parts = parts[:-1]
            out[tuple(parts)] = os.path.join(dirpath, f)
    return out


def strip_comments_and_tests(text):
    text = re.sub(r"//[^\n]*", "", text)
    # Unit-test modules may use anything; they are not part of the library's structure.
    m = re.search(r"#\[cfg\(test\)\]\s*mod tests\s*\{", text)
    if m:
        text = text[: m.start()]
    return text


def root_reexports(mods):
    """Names the crate root re-exports, mapped to the module they come from."""
    text = strip_comments_and_tests(open(mods[()]).read())
    names = {}
    for m in re.finditer(r"pub use ([a-z_]+(?:::[a-z_]+)*)::\{([^}]*)\}", text, re.S):
        base = tuple(m.group(1).split("::"))
        for item in m.group(2).split(","):
            item = item.strip().split(" as ")[-1].strip()
            if item:
                names[item] = base
    for m in re.finditer(r"pub use ([a-z_]+(?:::[a-z_]+)*)::([A-Za-z_]+);", text):
        names[m.group(2)] = tuple(m.group(1).split("::"))
    return names


def resolve(mods, path):
    """The longest module prefix of `path` (a tuple of names)."""
    for n in range(len(path), 0, -1):
        if tuple(path[:n]) in mods:
            return tuple(path[:n])
    return None


def edges(mods):
    reexports = root_reexports(mods)
    graph = {m: set() for m in mods}
    path_re = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
    group_re = re.compile(r"\b(crate|super|self)((?:::[a-z_][a-z0-9_]*)*)::\{([^;]*?)\};", re.S)
    for mod, path in mods.items():
        if mod == ():
            continue
        text = strip_comments_and_tests(open(path).read())
        is_dir_module = os.path.basename(path) == "mod.rs"
        # The module `self` refers to, and its parent (`super`).
        here = list(mod)
        parent = list(mod[:-1])
        refs = []
        for m in group_re.finditer(text):
            anchor, prefix, items = m.group(1), m.group(2), m.group(3)
            for item in re.split(r"[,{}]", items):
                item = item.strip().split(" as ")[0].strip()
                if item and item != "self":
                    refs.append((anchor, prefix + "::" + item))
                elif item == "self":
                    refs.append((anchor, prefix))
        for m in path_re.finditer(text):
            refs.append((m.group(1), m.group(2)))
        # Bare paths into child modules (`use child::Item;`, `child::function()`).
        for child in {c[-1] for c in mods if len(c) == len(mod) + 1 and c[: len(mod)] == mod}:
            if re.search(r"(?<![:\w])" + re.escape(child) + r"::", text):
                refs.append(("self", "::" + child))
        for anchor, rest in refs:
            names = [p for p in rest.split("::") if p]
            if anchor == "crate":
                base = []
            elif anchor == "super":
                base = list(parent)
                while names and names[0] == "super":
                    base = base[:-1]
                    names = names[1:]
            else:
                base = list(here)
            full = base + names
            if anchor == "crate" and names and names[0] in reexports:
                target = reexports[names[0]]
            else:
                target = resolve(mods, full)
            if target is None or target == mod or target == () or mod[: len(target)] == target:
                continue
            # A parent naming its own child modules declares them; `self::child` in a
            # directory module is a real use though, and counts.
            graph[mod].add(target)
        _ = is_dir_module
    return graph


def sccs(graph):
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(comp)

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


def name(m):
    return "::".join(m) or "crate"


def check(crate, show_graph):
    """Print the crate's cycles (and its edges with --graph); true if it has none."""
    mods = module_files(os.path.join(WORKSPACE, crate))
    graph = edges(mods)
    if show_graph:
        for m in sorted(graph):
            for t in sorted(graph[m]):
                print(f"{crate}: {name(m)} -> {name(t)}")
    cycles = [c for c in sccs(graph) if len(c) > 1]
    for c in cycles:
        members = set(c)
        print(f"{crate}: cycle: " + ", ".join(sorted(name(m) for m in c)))
        for m in sorted(c):
            for t in sorted(graph[m] & members):
                print(f"  {name(m)} -> {name(t)}")
    if not cycles:
        print(f"{crate}: {len(mods) - 1} modules, {sum(len(v) for v in graph.values())} dependencies, no cycles")
    return not cycles


def canary_caught():
    """Whether a planted loop between two modules is found (see the module docs)."""
    with tempfile.TemporaryDirectory() as root:
        files = {
            "lib.rs": "mod a;\nmod b;\n",
            "a.rs": "use crate::b::B;\npub struct A(B);\n",
            "b.rs": "pub struct B;\nimpl B { fn f(_: super::a::A) {} }\n",
        }
        for name, text in files.items():
            with open(os.path.join(root, name), "w") as f:
                f.write(text)
        mods = module_files(root)
        return any(len(c) > 1 for c in sccs(edges(mods)))


def main():
    if not canary_caught():
        print("canary: a planted loop between two modules was not found; the check is broken")
        sys.exit(2)
    print("canary: a planted loop between two modules is found")
    crates = [a for a in sys.argv[1:] if not a.startswith("--")] or CRATES
    results = [check(c, "--graph" in sys.argv) for c in crates]
    if not all(results):
        sys.exit(1)


if __name__ == "__main__":
    main()
