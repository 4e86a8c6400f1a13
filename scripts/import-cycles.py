"""The module import graph of Rust crates' sources, from their paths
(`crate::a::b`, `super::x`, `self::x`, in `use` lines and in code), and
the cycles in it (Tarjan's strongly connected components). A module's own
children and its parents' items are not imports between two modules, the
crate root (re-exports) is left out, and so are test modules. Prints each
crate's modules, imports and cycles; exits 1 when there is a cycle.
Usage: scripts/import-cycles.py SRC_DIR..."""
import os
import re
import sys


def modules(root):
    found = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            if not name.endswith(".rs"):
                continue
            path = os.path.join(dirpath, name)
            parts = os.path.relpath(path, root)[:-3].split(os.sep)
            if parts[-1] == "mod" or parts in (["lib"], ["main"]):
                parts = parts[:-1]
            if parts and parts[-1] == "tests":
                continue
            found[tuple(parts)] = path
    return found


def resolve(path, known):
    """The longest known module that `path` names (a module or an item in one)."""
    for end in range(len(path), 0, -1):
        if tuple(path[:end]) in known:
            return tuple(path[:end])
    return None


def graph(root):
    known = modules(root)
    edges = {m: set() for m in known}
    for module, path in known.items():
        text = open(path).read()
        text = re.split(r"#\[cfg\(test\)\]\s*mod tests\s*\{", text)[0]
        text = re.sub(r"//[^\n]*", "", text)
        for use in re.findall(r"\b((?:crate|super|self)(?:::[A-Za-z_0-9]+)+)", text):
            parts = use.split("::")
            if parts[0] == "crate":
                target = parts[1:]
            else:
                # `self` is this module, each `super` one up.
                base = list(module)
                if parts[0] == "self":
                    parts = parts[1:]
                while parts and parts[0] == "super":
                    parts = parts[1:]
                    base = base[:-1]
                target = base + parts
            found = resolve(target, known)
            if found is None or found == module:
                continue
            # A module reaching into its own child, or a child up to its
            # parent's items, is one module's inside, not an import between two.
            if found[: len(module)] == module or module[: len(found)] == found:
                continue
            edges[module].add(found)
    return edges


def cycles(edges):
    index, low, stack, on, found = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(100000)
    for v in edges:
        if v not in index:
            visit(v)
    return found


status = 0
for root in sys.argv[1:]:
    edges = graph(root)
    found = cycles(edges)
    imports = sum(len(targets) for targets in edges.values())
    print(f"{root}: {len(edges)} modules, {imports} imports between them, {len(found)} cycles")
    for component in found:
        print("  cycle:", " <-> ".join("::".join(m) or "crate" for m in component))
        status = 1
sys.exit(status)
