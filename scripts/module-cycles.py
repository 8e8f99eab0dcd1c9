#!/usr/bin/env python3
"""No import circles among a crate's modules, and the crates' layering (`make lint`).

The layering: which workspace crate may depend on which (`LAYERS`, written down here once);
each crate's Cargo.toml is read and a dependency outside its row fails the check.

Reads every crate under crates/ as text: each file of src/ is a module; an edge runs from a
module to each module of the same crate it names in a `use` or a path (`crate::a::b`,
`super::x`, `self::y`, a child's name). A parent's `mod child;` and `pub use child::…`
re-exports are wiring, not edges. Inline `#[cfg(test)] mod tests` blocks are left out. Prints
each circle with the names that tie it and exits 1 when there is one.

A stand-in for `cargo modules dependencies --acyclic`, whose install (it builds rust-analyzer)
takes longer than CI can spend on a lint.
"""

import os
import re
import sys
import tomllib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates")


def module_of(src, path):
    """The module path of file `path` under `src`: ('a', 'b') for src/a/b.rs or src/a/b/mod.rs."""
    rel = os.path.relpath(path, src)[: -len(".rs")].split(os.sep)
    if rel[-1] in ("lib", "main", "mod"):
        rel = rel[:-1]
    return tuple(rel)


def strip(text):
    """The text without comments, string literals and test modules."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    i = text.find("#[cfg(test)]")
    return text if i < 0 else text[:i]


def use_paths(tree, prefix=""):
    """The paths a `use` tree names: `a::{b, c::d}` -> a::b, a::c::d."""
    tree = tree.strip()
    depth, start, parts = 0, 0, []
    brace = tree.find("{")
    if brace < 0:
        return [prefix + re.sub(r"\s+as\s+\w+$", "", tree)]
    head, body = tree[:brace], tree[brace + 1 : tree.rfind("}")]
    for i, ch in enumerate(body):
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    out = []
    for p in parts:
        if p.strip():
            out += use_paths(p, prefix + head)
    return out


def resolve(path, here, modules):
    """The module of this crate that `path` (as written in module `here`) names, if any."""
    segs = [s for s in path.replace(" ", "").split("::") if s]
    if not segs:
        return None
    if segs[0] == "crate":
        base, segs = (), segs[1:]
    elif segs[0] in ("super", "self"):
        base = here
        while segs and segs[0] in ("super", "self"):
            base = base[:-1] if segs[0] == "super" else base
            segs = segs[1:]
    elif here + (segs[0],) in modules:
        base = here
    else:
        return None
    found = None
    for i in range(len(segs) + 1):
        cand = base + tuple(segs[:i])
        if cand in modules:
            found = cand
    return found


def edges_of(text, here, modules):
    """(target module, name) for every path of this crate the module names."""
    out = []
    for m in re.finditer(r"\b(pub(?:\([^)]*\))?\s+)?use\s+([^;]+);", text):
        reexport = m.group(1) is not None
        for p in use_paths(m.group(2)):
            t = resolve(p, here, modules)
            # a parent re-exporting its child's items is wiring
            if t and not (reexport and t[: len(here)] == here and t != here):
                out.append((t, p.split("::")[-1]))
    body = re.sub(r"\b(pub(?:\([^)]*\))?\s+)?use\s+[^;]+;", "", text)
    for m in re.finditer(r"\b((?:crate|super|self)(?:::\w+)+)", body):
        t = resolve(m.group(1), here, modules)
        if t:
            out.append((t, m.group(1).split("::")[-1]))
    return out


def circles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
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
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in graph:
        if v not in index:
            visit(v)
    return out


# crate directory -> the workspace crates it may depend on (dependencies of every kind). core is
# plain rules and types; runtime the process's plumbing; store (Postgres) and source
# (Conversations) one external system each; queue (RabbitMQ) publishes what store recorded; api
# and worker are the two processes and never depend on each other; ctl speaks only HTTP to the
# api; the simulator is a stand-in for Conversations and knows none of our code; testkit drives
# everything.
LAYERS = {
    "core": set(),
    "runtime": {"migrator-core"},
    "store": {"migrator-core", "migrator-runtime"},
    "source": {"migrator-core", "migrator-runtime"},
    "queue": {"migrator-core", "migrator-runtime", "migrator-store"},
    "api": {"migrator-core", "migrator-runtime", "migrator-store", "migrator-source", "migrator-queue"},
    "worker": {"migrator-core", "migrator-runtime", "migrator-store", "migrator-source", "migrator-queue"},
    "ctl": set(),
    "conversations-sim": set(),
    "testkit": None,  # any
}


def layering():
    """The crates whose workspace dependencies leave their row of `LAYERS`; prints each."""
    bad = 0
    names = set()
    manifests = {}
    for crate in sorted(os.listdir(ROOT)):
        path = os.path.join(ROOT, crate, "Cargo.toml")
        if os.path.isfile(path):
            with open(path, "rb") as f:
                manifests[crate] = tomllib.load(f)
            names.add(manifests[crate]["package"]["name"])
    for crate, m in manifests.items():
        if crate not in LAYERS:
            print(f"{crate}: not in LAYERS (scripts/module-cycles.py): say what it may depend on")
            bad += 1
            continue
        allowed = LAYERS[crate]
        deps = set()
        for kind in ("dependencies", "dev-dependencies", "build-dependencies"):
            deps |= set(m.get(kind, {})) & names
        for target in m.get("target", {}).values():
            for kind in ("dependencies", "dev-dependencies", "build-dependencies"):
                deps |= set(target.get(kind, {})) & names
        if allowed is not None:
            for d in sorted(deps - allowed):
                print(f"{crate}: depends on {d}, which its layer may not (LAYERS)")
                bad += 1
    return bad


def main():
    found = layering()
    for crate in sorted(os.listdir(ROOT)):
        src = os.path.join(ROOT, crate, "src")
        if not os.path.isdir(src):
            continue
        files = {}
        for dirpath, _, names in os.walk(src):
            # each binary is a crate of its own; its modules are checked with it
            for name in names:
                if name.endswith(".rs"):
                    path = os.path.join(dirpath, name)
                    files[module_of(src, path)] = path
        modules = set(files)
        graph = {}
        for here, path in files.items():
            with open(path, encoding="utf-8") as f:
                text = strip(f.read())
            for target, name in edges_of(text, here, modules):
                if target != here and not (here[: len(target)] == target and False):
                    graph.setdefault(here, {}).setdefault(target, set()).add(name)
        for comp in circles(graph):
            found += 1
            print(f"{crate}: import circle among {len(comp)} modules:")
            for a in comp:
                for b, names in sorted(graph.get(a, {}).items()):
                    if b in comp:
                        label = "::".join(a) or "(crate root)"
                        target = "::".join(b) or "(crate root)"
                        print(f"  {label} -> {target}: {', '.join(sorted(names))}")
    if found:
        sys.exit(1)
    print("no import circle among any crate's modules; every crate within its layer")


if __name__ == "__main__":
    main()
