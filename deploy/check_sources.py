#!/usr/bin/env python3
"""Source hygiene: no import cycle between the gateway's files, no comment that a reader
of a clone cannot follow.

1. Import cycles. Every file of `gateway/src` is a node. The module tree is read from the
   `mod` declarations (with `#[path]`, inline `mod x { ... }` blocks and `mod.rs`), from
   each crate root (`lib.rs`, `main.rs`, `bin/*.rs`). Every path that starts with
   `crate::` or `super::` (in `use` lines, groups included, and in expressions or types),
   and every `use` of a child module by its bare name, is resolved to the deepest module
   it names; the file holding that module is an edge target. `self::`, bare names that
   are not modules and paths into other crates are not edges, nor are the `mod`
   declarations themselves (a parent declares its children; that is structure, not a
   dependency). Each strongly connected component of more than one file is a cycle.

2. Comments that cite what a clone does not contain: an issue number (the word
   "issue" or "issues" followed by a number, with or without a hash sign, or a lone
   hash sign and number), or a document kept outside the
   repository (`DESIGN.md`, `LAYOUT.md`, `STYLE.md`, or `API.md` other than `docs/API.md`
   or a sibling link from inside `docs/`). Read in comments of .rs, .js, .mjs (`//`,
   `/* */`), .sh, .py, .toml, .yml, .yaml (`#`; Python docstrings too), .lua, .sql (`--`)
   and in the whole text of .md files, under gateway/, worker/, protocol/, runtime/,
   testkit/, bench/, deploy/, k6/, migrations/, docs/ and README.md.

Usage: check_sources.py [--root DIR] [--gateway-src DIR] [--only cycles|comments]
Prints every finding; exits 1 if there is any.
"""

import argparse
import os
import re
import sys
from collections import defaultdict

# ---------------------------------------------------------------- 1. import cycles

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
MOD_DECL = re.compile(
    r"(?P<attrs>(?:#\[[^\]]*\]\s*)*)(?:pub(?:\([^)]*\))?\s+)?"
    r"mod\s+(?P<name>r#)?(?P<ident>" + IDENT + r")\s*(?P<end>[;{])"
)
PATH_ATTR = re.compile(r'#\[path\s*=\s*"([^"]+)"\]')


def is_ident(c: str) -> bool:
    return c.isalnum() or c == "_"


RAW_STRING = re.compile(r'r(#*)"')
CHAR_LITERAL = re.compile(r"'(?:\\(?:u\{[0-9a-fA-F]+\}|x[0-9a-fA-F]{2}|.)|[^\\'\n])'")


def strip_code(text: str) -> str:
    """Rust source with comments, strings and char literals blanked (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if text.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif text.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c == "r" and RAW_STRING.match(text, i) and not (i and is_ident(text[i - 1])):
            hashes = RAW_STRING.match(text, i).group(1)
            end = text.find('"' + hashes, i + 2 + len(hashes))
            j = n if end < 0 else end + 1 + len(hashes)
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 2 : j]))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""' + re.sub(r"[^\n]", " ", text[i + 1 : j - 1] if j - 1 > i else ""))
            i = j + 1
        elif c == "'":
            # char literal ('a', '\n', '\u{1F600}') or a lifetime ('a): blank only literals
            m = CHAR_LITERAL.match(text, i)
            if m:
                out.append(" " * len(m.group(0)))
                i += len(m.group(0))
            else:
                out.append(c)
                i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


class Module:
    def __init__(self, path, file, children_dir, inline=False):
        self.path = path  # tuple of names from the crate root
        self.file = file  # the file that holds it
        self.children_dir = children_dir  # where `mod x;` inside it looks for x
        self.inline = inline
        self.children = {}
        self.imports = {}  # name -> path segments, from the module's own `use` items


def build_tree(root_file: str, src: str):
    """The module tree of one crate: {path tuple: Module}, and each file's module spans."""
    modules = {}
    spans = defaultdict(list)  # file -> [(start, end, module path)] of inline modules

    def load(path, file, children_dir):
        mod = Module(path, file, children_dir)
        modules[path] = mod
        try:
            text = strip_code(open(file, encoding="utf-8").read())
        except OSError:
            return mod
        scan(text, file, mod, 0, len(text))
        return mod

    def scan(text, file, mod, start, end):
        i = start
        while True:
            m = MOD_DECL.search(text, i, end)
            if not m:
                return
            name = m.group("ident")
            attrs = m.group("attrs") or ""
            if m.group("end") == ";":
                pa = PATH_ATTR.search(attrs)
                base = mod.children_dir
                if pa:
                    # #[path] is relative to the directory of the declaring file (non-inline)
                    base = os.path.dirname(file) if not mod.inline else mod.children_dir
                    child_file = os.path.normpath(os.path.join(base, pa.group(1)))
                    child_dir = os.path.splitext(child_file)[0]
                    if os.path.basename(child_file) == "mod.rs":
                        child_dir = os.path.dirname(child_file)
                else:
                    flat = os.path.join(base, name + ".rs")
                    nested = os.path.join(base, name, "mod.rs")
                    child_file = flat if os.path.exists(flat) else nested
                    child_dir = os.path.join(base, name)
                child = load(mod.path + (name,), child_file, child_dir)
                mod.children[name] = child
                i = m.end()
            else:
                # inline module: its body up to the matching brace
                depth, j = 1, m.end()
                while j < end and depth:
                    if text[j] == "{":
                        depth += 1
                    elif text[j] == "}":
                        depth -= 1
                    j += 1
                child_dir = os.path.join(mod.children_dir, name)
                child = Module(mod.path + (name,), file, child_dir, inline=True)
                modules[child.path] = child
                mod.children[name] = child
                spans[file].append((m.end(), j, child.path))
                scan(text, file, child, m.end(), j)
                i = j

    base = os.path.dirname(root_file)
    load((), root_file, base)
    return modules, spans


USE_STMT = re.compile(r"\buse\s+([^;]+);")
CHILD_PATH = re.compile(r"(?<![A-Za-z0-9_:])(" + IDENT + r")(?:\s*::\s*" + IDENT + r")+")
PATH_EXPR = re.compile(r"(?<![A-Za-z0-9_:])((?:crate|super)(?:\s*::\s*(?:" + IDENT + r"|\{))+)")


def expand_use(tree: str):
    """`a::{b, c::{self, d as e}, f::*}` -> [(segs, name)]: ([a,b],"b"), ([a,c],"c"),
    ([a,c,d],"e"), ([a,f],None) (a glob names no single item)."""
    tree = re.sub(r"\s+as\s+", "@", tree.strip())
    tree = re.sub(r"\s+", "", tree).lstrip(":")
    out = []

    def walk(prefix, s):
        parts, depth, cur = [], 0, ""
        for ch in s:
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            if ch == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += ch
        if cur:
            parts.append(cur)
        for p in parts:
            if "{" in p:
                head, rest = p.split("{", 1)
                walk(prefix + [x for x in head.split("::") if x], rest[: rest.rfind("}")])
                continue
            p, _, alias = p.partition("@")
            segs = prefix + [x for x in p.split("::") if x]
            if segs and segs[-1] == "*":
                out.append((segs[:-1], None))
                continue
            if segs and segs[-1] == "self":
                segs = segs[:-1]
            if segs:
                out.append((segs, alias or segs[-1]))

    walk([], tree)
    return out


def resolve(modules, current, segs, depth=0, bare_children=False):
    """The module whose file defines what `segs` (used in module `current`) names.

    Walks to the deepest module the path names; if the rest of the path is a name that
    module imports (`use`, `pub use`: a re-export, or an import a child reaches through
    `super::`), follows that import, so `crate::limits::screen` ends in the file that
    defines `screen`, not in the `mod.rs` that re-exports it. None: another crate.
    """
    if not segs or depth > 16:
        return None
    first = segs[0]
    if first == "crate":
        path, rest = (), segs[1:]
    elif first in ("super", "self"):
        path, rest = current, segs
        while rest and rest[0] in ("super", "self"):
            if rest[0] == "super":
                path = path[:-1]
            rest = rest[1:]
    elif bare_children and current + (first,) in modules:
        path, rest = current, segs
    else:
        return None
    while rest and path + (rest[0],) in modules:
        path, rest = path + (rest[0],), rest[1:]
    imported = modules[path].imports.get(rest[0]) if rest else None
    if imported is not None:
        target = resolve(modules, path, imported + rest[1:], depth + 1, bare_children=True)
        if target is not None:
            return target
    return path


def module_at(spans, file_module, file, offset):
    best = file_module
    best_len = -1
    for start, end, path in spans.get(file, []):
        if start <= offset < end and len(path) > best_len:
            best, best_len = path, len(path)
    return best


def import_graph(src: str):
    """{file: set(files)} over the crates of `src` (lib.rs, main.rs, bin/*.rs)."""
    roots = [os.path.join(src, f) for f in ("lib.rs", "main.rs")]
    roots = [r for r in roots if os.path.exists(r)]
    bin_dir = os.path.join(src, "bin")
    if os.path.isdir(bin_dir):
        for f in sorted(os.listdir(bin_dir)):
            p = os.path.join(bin_dir, f)
            if f.endswith(".rs"):
                roots.append(p)
            elif os.path.exists(os.path.join(p, "main.rs")):
                roots.append(os.path.join(p, "main.rs"))
    graph = defaultdict(set)
    module_of = {}  # file -> (crate root, module path)
    for root in roots:
        modules, spans = build_tree(root, src)
        by_file = {}
        for path, mod in modules.items():
            if not mod.inline and mod.file not in by_file:
                by_file[mod.file] = path
                module_of.setdefault(mod.file, (root, path))
        texts = {}
        for file, file_module in by_file.items():
            try:
                texts[file] = strip_code(open(file, encoding="utf-8").read())
            except OSError:
                continue
            for m in USE_STMT.finditer(texts[file]):
                cur = module_at(spans, file_module, file, m.start())
                for segs, name in expand_use(m.group(1)):
                    if name and name != "_":
                        modules[cur].imports.setdefault(name, segs)
        for file, file_module in by_file.items():
            if file not in texts:
                continue
            text = texts[file]
            graph[file]  # every file is a node
            targets = []
            code = USE_STMT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
            for m in USE_STMT.finditer(text):
                cur = module_at(spans, file_module, file, m.start())
                for segs, name in expand_use(m.group(1)):
                    if segs[0] in ("crate", "super"):
                        targets.append(resolve(modules, cur, segs))
                    elif segs[0] == "self" or cur + (segs[0],) in modules:
                        # An import from a child module (`pub use child::Item`) is an edge
                        # only if this file's own code uses the item; a re-export alone is
                        # the module's structure, not a dependency.
                        word = r"(?<![A-Za-z0-9_])" + re.escape(name or "") + r"(?![A-Za-z0-9_])"
                        if name and re.search(word, code):
                            targets.append(resolve(modules, cur, segs, bare_children=True))
            for m in PATH_EXPR.finditer(code):
                cur = module_at(spans, file_module, file, m.start())
                segs = [s for s in re.split(r"\s*::\s*", m.group(1)) if s and s != "{"]
                targets.append(resolve(modules, cur, segs))
            for m in CHILD_PATH.finditer(code):
                cur = module_at(spans, file_module, file, m.start())
                if cur + (m.group(1),) in modules:
                    segs = re.split(r"\s*::\s*", m.group(0))
                    targets.append(resolve(modules, cur, segs, bare_children=True))
            for t in targets:
                if t is None:
                    continue
                target_file = modules[t].file
                if target_file != file:
                    graph[file].add(target_file)
    return graph, module_of


def inside_one_module(comp, module_of):
    """Whether a cycle stays inside one module: its files are a module's file and files of
    that module's descendants (e.g. a type in `mod.rs` whose impl blocks live in child
    files that `mod.rs` uses back). That is the module's internal structure."""
    places = [module_of.get(f) for f in comp]
    if None in places or len({root for root, _ in places}) > 1:
        return False
    paths = [path for _, path in places]
    common = paths[0]
    for p in paths[1:]:
        n = 0
        while n < min(len(common), len(p)) and common[n] == p[n]:
            n += 1
        common = common[:n]
    return common in paths and len(common) > 0


def cycles(graph):
    """Strongly connected components of more than one node (Tarjan, iterative)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    for v0 in sorted(graph):
        if v0 in index:
            continue
        work = [(v0, iter(sorted(graph[v0])))]
        index[v0] = low[v0] = counter[0]
        counter[0] += 1
        stack.append(v0)
        on.add(v0)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, ())))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
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
    return out


# ---------------------------------------------------------------- 2. comments

SCANNED_DIRS = (
    "gateway", "worker", "protocol", "runtime", "testkit", "bench",
    "deploy", "k6", "migrations", "docs",
)
SKIPPED_DIRS = {"target", "node_modules", ".git", "artifacts", "__pycache__"}
EXTS = {
    ".rs": "slash", ".js": "slash", ".mjs": "slash",
    ".sh": "hash", ".py": "hash", ".toml": "hash", ".yml": "hash", ".yaml": "hash",
    ".lua": "dash", ".sql": "dash",
    ".md": "all",
}
# Spelled in pieces so that this file does not report itself.
OUTSIDE_DOCS = ("DESIGN", "LAYOUT", "STYLE", "API")
CITATIONS = [
    ("issue number", re.compile(r"\bissues?\s*#?\s*\d+", re.IGNORECASE)),
    ("issue number", re.compile(r"(?<![\w&/#\[(])#\d+\b(?![\w-])")),
    (
        "document outside the repository",
        re.compile(r"(?<![\w/.-])(?P<name>(?:" + "|".join(OUTSIDE_DOCS) + r")\." + "md)\\b"),
    ),
]


def comment_lines(text: str, style: str, ext: str):
    """(line number, comment text) of every comment line."""
    lines = text.split("\n")
    if style == "all":
        for no, line in enumerate(lines, 1):
            yield no, line
        return
    in_block = False  # /* */ or a Python docstring
    quote = None
    for no, line in enumerate(lines, 1):
        if style == "slash":
            rest, pieces = line, []
            while rest:
                if in_block:
                    end = rest.find("*/")
                    pieces.append(rest if end < 0 else rest[:end])
                    if end < 0:
                        rest = ""
                    else:
                        in_block, rest = False, rest[end + 2 :]
                    continue
                start = find_outside_strings(rest, ("//", "/*"))
                if start is None:
                    break
                pos, tok = start
                if tok == "//":
                    pieces.append(rest[pos + 2 :])
                    break
                in_block, rest = True, rest[pos + 2 :]
            if pieces:
                yield no, " ".join(pieces)
        elif style == "dash":
            start = find_outside_strings(line, ("--",))
            if start is not None:
                yield no, line[start[0] + 2 :]
        else:  # hash
            if ext == ".py":
                if quote:
                    yield no, line
                    if quote in line:
                        quote = None
                    continue
                stripped = line.strip()
                for q in ('"""', "'''"):
                    if stripped.startswith(q) or re.match(r"^[rRbBuU]{0,2}" + q, stripped):
                        yield no, line
                        if line.count(q) == 1:
                            quote = q
                        break
                else:
                    start = find_outside_strings(line, ("#",))
                    if start is not None:
                        yield no, line[start[0] + 1 :]
                continue
            start = find_outside_strings(line, ("#",))
            if start is not None:
                yield no, line[start[0] + 1 :]


def find_outside_strings(line: str, tokens):
    """First (position, token) of one of `tokens` outside '...' / "..." on the line."""
    q = None
    i = 0
    while i < len(line):
        c = line[i]
        if q:
            if c == "\\":
                i += 2
                continue
            if c == q:
                q = None
        else:
            for t in tokens:
                if line.startswith(t, i):
                    if t == "#" and i > 0 and not line[i - 1].isspace():
                        break  # `$#`, `${#a}`, `PKCS#8`: not a comment
                    return i, t
            if c in "\"'" and not (c == "'" and i > 0 and line[i - 1].isalnum()):
                q = c
        i += 1
    return None


def scanned_files(root: str):
    out = []
    readme = os.path.join(root, "README.md")
    if os.path.exists(readme):
        out.append(readme)
    for top in SCANNED_DIRS:
        base = os.path.join(root, top)
        for d, dirs, files in os.walk(base):
            dirs[:] = sorted(x for x in dirs if x not in SKIPPED_DIRS)
            for f in sorted(files):
                if os.path.splitext(f)[1] in EXTS:
                    out.append(os.path.join(d, f))
    return out


# Landed migrations stay byte for byte as applied: sqlx keeps a checksum of each file in
# `_sqlx_migrations`, and a database migrated before an edit (a comment included) refuses
# to start ("previously applied but has been modified"). Their headers are reported as
# notes; new migrations are checked.
LANDED_MIGRATIONS = {
    "migrations/20261121120000_reservations.sql",
    "migrations/20261121140000_hot_path_without_foreign_keys.sql",
}


def citations(root: str):
    """(findings, notes): each a list of (path, line, kind, comment)."""
    findings, notes = [], []
    docs_dir = os.path.join(root, "docs")
    for path in scanned_files(root):
        ext = os.path.splitext(path)[1]
        if os.path.abspath(path) == os.path.abspath(__file__):
            continue
        try:
            text = open(path, encoding="utf-8").read()
        except (OSError, UnicodeDecodeError):
            continue
        in_docs = os.path.dirname(os.path.abspath(path)) == os.path.abspath(docs_dir)
        for no, comment in comment_lines(text, EXTS[ext], ext):
            for kind, rx in CITATIONS:
                for m in rx.finditer(comment):
                    if kind.startswith("document"):
                        name = m.group("name")
                        # A link from docs/ to a sibling page of docs/ is inside the repo.
                        if in_docs and name.startswith("API") :
                            continue
                    rel = os.path.relpath(path, root)
                    found = notes if rel in LANDED_MIGRATIONS else findings
                    found.append((rel, no, kind, comment.strip()))
                    break
                else:
                    continue
                break
    return findings, notes


def main() -> int:
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default=os.path.dirname(here), help="the repository (default: this)")
    p.add_argument("--gateway-src", help="the gateway's src directory (default: ROOT/gateway/src)")
    p.add_argument("--only", choices=("cycles", "comments"))
    args = p.parse_args()
    src = args.gateway_src or os.path.join(args.root, "gateway", "src")
    bad = 0
    if args.only != "comments":
        graph, module_of = import_graph(src)
        inside = os.path.abspath(src).startswith(os.path.abspath(args.root) + os.sep)
        shown = os.path.relpath(src, args.root) if inside else src
        comps = cycles(graph)
        crossing = [c for c in comps if not inside_one_module(c, module_of)]
        for comp in crossing:
            bad += 1
            print(f"import cycle of {len(comp)} files in {shown}:")
            for f in comp:
                targets = sorted(os.path.relpath(t, src) for t in graph[f] if t in comp)
                print(f"    {os.path.relpath(f, src)} -> {', '.join(targets)}")
        for comp in comps:
            if comp not in crossing:
                names = ", ".join(os.path.relpath(f, src) for f in comp)
                print(f"note: files of one module use each other (not between modules): {names}")
        if not crossing:
            print(f"import cycles: none between the modules of {shown} ({len(graph)} files)")
    if args.only != "cycles":
        found, notes = citations(args.root)
        for path, no, kind, text in found:
            article = "an" if kind.startswith("issue") else "a"
            print(f"{path}:{no}: cites {article} {kind}: {text[:110]}")
        for path, no, kind, text in notes:
            print(f"note: {path}:{no} cites an {kind}; kept: a landed migration (sqlx checksum)")
        bad += len(found)
        if found:
            print(f"comments: {len(found)} cite an issue or a document outside the repository")
        else:
            print("comments: none cites an issue or a document outside the repository")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
