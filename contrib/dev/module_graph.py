#!/usr/bin/env python3
"""Print the import graph between the top-level modules of src/ and fail
on a cycle.

    contrib/dev/module_graph.py          # table, arrows, cycles; exit 1 on a cycle
    contrib/dev/module_graph.py --dot    # the same graph for Graphviz

A top-level module is `src/<name>.rs` or `src/<name>/`. An arrow A -> B
means some non-test code of A names `crate::B` (in a `use` or a path).
Test code is left out: files named `*_tests.rs`,
modules declared under `#[cfg(test)]` and every item under it, since tests may reach across layers to
build their fixtures. `main.rs` names the library as `bitcoim::`.

The layering this check keeps (README, "How it is built"): arrows point
from the daemon's top down to the I/O-free types, never back up, so the
graph has no cycle.
"""

import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SRC = os.path.join(ROOT, "src")


def module_files():
    """{module: [paths]} for every top-level module of src/."""
    modules = {}
    for entry in sorted(os.listdir(SRC)):
        path = os.path.join(SRC, entry)
        if entry.endswith(".rs"):
            name = entry[:-3]
            if name == "lib":
                continue
            modules.setdefault(name, []).append(path)
        elif os.path.isdir(path):
            files = []
            for base, _dirs, names in os.walk(path):
                files += [os.path.join(base, n) for n in sorted(names) if n.endswith(".rs")]
            if files:
                modules.setdefault(entry, []).extend(files)
    return modules


def without_tests(text):
    """The text with every `#[cfg(test)]` item removed."""
    lines = text.split("\n")
    kept = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "#[cfg(test)]":
            i += 1
            # Skip the item: one line ending in ';', or up to its closing brace.
            depth = 0
            opened = False
            while i < len(lines):
                line = lines[i]
                depth += line.count("{") - line.count("}")
                opened = opened or "{" in line
                i += 1
                if (not opened and line.rstrip().endswith(";")) or (opened and depth <= 0):
                    break
            continue
        kept.append(lines[i])
        i += 1
    return "\n".join(kept)


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def braced(text, start):
    """The text inside the braces that open at text[start]."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
    return text[start + 1 :]


def targets(code, prefix):
    """Top-level modules named after `prefix::` in code."""
    found = set()
    for m in re.finditer(re.escape(prefix) + r"::\s*(\{|[a-z_][a-z0-9_]*)", code):
        if m.group(1) == "{":
            inner = braced(code, m.start(1))
            for part in inner.split(","):
                head = part.strip().split("::")[0].strip()
                if re.fullmatch(r"[a-z_][a-z0-9_]*", head) and head != "self":
                    found.add(head)
        else:
            found.add(m.group(1))
    return found


def test_only_files(files):
    """Files declared as `#[cfg(test)] mod name;` by another file."""
    found = set()
    for path in files:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        base = os.path.dirname(path)
        if not path.endswith(("mod.rs", "lib.rs", "main.rs")):
            base = os.path.join(base, os.path.basename(path)[:-3])
        for m in re.finditer(r"#\[cfg\(test\)\]\s*(?:pub(?:\([a-z]+\))? )?mod (\w+);", text):
            found.add(os.path.join(base, m.group(1) + ".rs"))
            found.add(os.path.join(base, m.group(1), "mod.rs"))
    return found


def graph():
    modules = module_files()
    every = [p for files in modules.values() for p in files]
    skip = test_only_files(every + [os.path.join(SRC, "lib.rs")])
    modules = {
        name: files
        for name, files in modules.items()
        if any(p not in skip and not p.endswith("_tests.rs") for p in files)
    }
    edges = {name: set() for name in modules}
    lines = {}
    for name, files in modules.items():
        count = 0
        for path in files:
            if path.endswith("_tests.rs") or path in skip:
                continue
            with open(path, encoding="utf-8") as f:
                text = without_tests(f.read())
            count += text.count("\n") + 1
            code = strip_comments(text)
            prefix = "bitcoim" if name == "main" else "crate"
            for target in targets(code, prefix):
                if target in modules and target != name:
                    edges[name].add(target)
        lines[name] = count
    return modules, edges, lines


def cycles(edges):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def layers(edges):
    """Depth of each module: 0 for those that import nothing of the crate."""
    depth = {}

    def d(v, seen=()):
        if v in depth:
            return depth[v]
        if v in seen:
            return 0
        depth_v = 1 + max((d(w, seen + (v,)) for w in edges[v]), default=-1)
        depth[v] = depth_v
        return depth_v

    for v in edges:
        d(v)
    return depth


def main():
    _modules, edges, lines = graph()
    if "--dot" in sys.argv:
        print("digraph bitcoim {")
        for v in sorted(edges):
            for w in sorted(edges[v]):
                print(f"  {v} -> {w};")
        print("}")
        return 0
    depth = layers(edges)
    order = sorted(edges, key=lambda v: (-depth[v], v))
    arrows = sum(len(e) for e in edges.values())
    print(f"{len(edges)} modules, {arrows} arrows, {sum(lines.values())} non-test lines")
    print(f"{'layer':>5}  {'module':<10} {'lines':>6}  imports")
    for v in order:
        print(f"{depth[v]:>5}  {v:<10} {lines[v]:>6}  {', '.join(sorted(edges[v]))}")
    found = cycles(edges)
    if found:
        for component in found:
            inner = sum(1 for v in component for w in edges[v] if w in component)
            print(f"CYCLE: {' <-> '.join(component)} ({inner} arrows inside)")
        return 1
    print("no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
