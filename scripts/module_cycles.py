#!/usr/bin/env python3
"""Check that no two modules of the library import each other in a loop.

Builds the module graph of `src/` (one node per module file: `log/segment/active`,
`engine/data`, ...): module A depends on module B when A's source names a path into B
(`crate::log::segment::Scan`, `super::format::encode_header`, `use child::Item`, ...).
Names the crate root re-exports (`crate::Error`) count as a dependency on the module they
come from. A module naming what an enclosing module defines (a child using its parent's
types, `super::Inner`) is inside that module's scope, not a dependency on it: the loops
this looks for are between modules that do not contain each other.

Prints every cycle (strongly connected component with more than one module) and exits 1 if
there is one. Usage: scripts/module_cycles.py [--graph]   (--graph also prints every edge)
"""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def module_files():
    """Map module path (tuple of names) -> file, for every .rs file under src/."""
    out = {}
    for dirpath, _, files in os.walk(ROOT):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), ROOT)
            parts = rel[:-3].split(os.sep)
            if parts == ["lib"]:
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


def main():
    mods = module_files()
    graph = edges(mods)
    if "--graph" in sys.argv:
        for m in sorted(graph):
            for t in sorted(graph[m]):
                print(f"{name(m)} -> {name(t)}")
    cycles = [c for c in sccs(graph) if len(c) > 1]
    for c in cycles:
        members = set(c)
        print("cycle: " + ", ".join(sorted(name(m) for m in c)))
        for m in sorted(c):
            for t in sorted(graph[m] & members):
                print(f"  {name(m)} -> {name(t)}")
    if cycles:
        sys.exit(1)
    print(f"{len(mods) - 1} modules, {sum(len(v) for v in graph.values())} dependencies, no cycles")


if __name__ == "__main__":
    main()
