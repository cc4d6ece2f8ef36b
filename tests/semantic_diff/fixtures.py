"""Per-language fixtures: one small module per language, and the edits that produce
every change class (body, signature, docstring, formatting, rename, moves, …).

Every language has the same cast: a function ``compute(alpha, beta)`` (a static
method of the file's class in Java), a class/struct ``Store`` with methods
``save`` and ``size``, a class ``Archive`` with ``load``, and a second module
``n`` holding ``other``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Block = tuple[str, str]  # ("fn" | "type", text)


@dataclass(frozen=True)
class Lang:
    name: str
    ext: str
    compute: str
    other: str
    store: str  # Store with save and size
    archive: str  # Archive with load
    store_without_save: str
    archive_with_save: str
    body_edit: tuple[str, str]
    param_add: tuple[str, str]  # adds parameter "gamma"
    param_rename: tuple[str, str]  # renames "beta" to "delta" in the signature
    param_reorder: tuple[str, str]
    doc_edit: tuple[str, str]
    reformat: Callable[[str], str]
    module: Callable[[str, list[Block]], str]

    def path(self, stem: str) -> str:
        if self.name == "java":
            return f"pkg/{stem.capitalize()}{self.ext}"
        return f"pkg/{stem}{self.ext}"

    def base(self) -> tuple[dict[str, bytes], list[Block], list[Block]]:
        m = [("fn", self.compute), ("type", self.store), ("type", self.archive)]
        n = [("fn", self.other)]
        return self.files(m, n), m, n

    def files(self, m: list[Block], n: list[Block]) -> dict[str, bytes]:
        return {self.path("m"): self.module("m", m).encode(), self.path("n"): self.module("n", n).encode()}


def _plain(header: str = "") -> Callable[[str, list[Block]], str]:
    def module(stem: str, blocks: list[Block]) -> str:
        return header + "\n\n".join(text for _, text in blocks) + "\n"

    return module


def _java_module(stem: str, blocks: list[Block]) -> str:
    fns = "\n".join(text for kind, text in blocks if kind == "fn")
    types = "\n\n".join(text for kind, text in blocks if kind == "type")
    out = f"package pkg;\n\npublic class {stem.capitalize()} {{\n{fns}}}\n"
    return out + ("\n" + types + "\n" if types else "")


def _reindent(text: str, old: str, new: str) -> str:
    return "\n".join(
        new * ((len(line) - len(line.lstrip(" "))) // len(old)) + line.lstrip(" ") if line.startswith(old) else line
        for line in text.splitlines()
    )


PYTHON = Lang(
    name="python",
    ext=".py",
    compute='''def compute(alpha, beta):
    """Add things."""
    total = alpha + beta
    for i in range(10):
        total += i * alpha
    return total
''',
    other="""def other(x):
    return [x, x * 2, x * 3, str(x)]
""",
    store="""class Store:
    def save(self, item):
        self.items.append(item)
        self.count = self.count + 1
        return len(self.items)

    def size(self):
        return len(self.items)
""",
    archive="""class Archive:
    def load(self, key):
        value = self.cache.get(key)
        return value
""",
    store_without_save="""class Store:
    def size(self):
        return len(self.items)
""",
    archive_with_save="""class Archive:
    def load(self, key):
        value = self.cache.get(key)
        return value

    def save(self, item):
        self.items.append(item)
        self.count = self.count + 1
        return len(self.items)
""",
    body_edit=("total += i * alpha", "total -= i * alpha"),
    param_add=("def compute(alpha, beta):", "def compute(alpha, beta, gamma=None):"),
    param_rename=("def compute(alpha, beta):", "def compute(alpha, delta):"),
    param_reorder=("def compute(alpha, beta):", "def compute(beta, alpha):"),
    doc_edit=('"""Add things."""', '"""Add things up, ten times."""'),
    reformat=lambda t: (
        _reindent(t, "    ", "  ")
        .replace("    return", "    # done\n    return")
        .replace("  total = alpha + beta", "  total = alpha + beta  # start\n\n")
    ),
    module=_plain(),
)

_JS_STORE = """class Store {
  save(item) {
    this.items.push(item);
    this.count = this.count + 1;
    return this.items.length;
  }
  size() {
    return this.items.length;
  }
}"""

JAVASCRIPT = Lang(
    name="javascript",
    ext=".js",
    compute="""/** Add things. */
function compute(alpha, beta) {
  let total = alpha + beta;
  for (let i = 0; i < 10; i++) {
    total += i * alpha;
  }
  return total;
}""",
    other="""export const other = (x) => [x, x * 2, x * 3, String(x)];""",
    store=_JS_STORE,
    archive="""class Archive {
  load(key) {
    const value = this.cache.get(key);
    return value;
  }
}""",
    store_without_save="""class Store {
  size() {
    return this.items.length;
  }
}""",
    archive_with_save="""class Archive {
  load(key) {
    const value = this.cache.get(key);
    return value;
  }
  save(item) {
    this.items.push(item);
    this.count = this.count + 1;
    return this.items.length;
  }
}""",
    body_edit=("total += i * alpha;", "total -= i * alpha;"),
    param_add=("function compute(alpha, beta)", "function compute(alpha, beta, gamma = null)"),
    param_rename=("function compute(alpha, beta)", "function compute(alpha, delta)"),
    param_reorder=("function compute(alpha, beta)", "function compute(beta, alpha)"),
    doc_edit=("/** Add things. */", "/** Add things up, ten times. */"),
    reformat=lambda t: _reindent(t, "  ", "    ").replace("let total", "// start\n    let total"),
    module=_plain(),
)


def _typed(js: Lang, name: str, ext: str) -> Lang:
    def t(s: str) -> str:
        return (
            s.replace("compute(alpha, beta)", "compute(alpha: number, beta: number): number")
            .replace("save(item)", "save(item: string): number")
            .replace("load(key)", "load(key: string): string")
        )

    return Lang(
        name=name,
        ext=ext,
        compute=t(js.compute),
        other=js.other,
        store=t(js.store),
        archive=t(js.archive),
        store_without_save=t(js.store_without_save),
        archive_with_save=t(js.archive_with_save),
        body_edit=js.body_edit,
        param_add=("compute(alpha: number, beta: number)", "compute(alpha: number, beta: number, gamma?: number)"),
        param_rename=("compute(alpha: number, beta: number)", "compute(alpha: number, delta: number)"),
        param_reorder=("compute(alpha: number, beta: number)", "compute(beta: number, alpha: number)"),
        doc_edit=js.doc_edit,
        reformat=js.reformat,
        module=js.module,
    )


TYPESCRIPT = _typed(JAVASCRIPT, "typescript", ".ts")
TSX = _typed(JAVASCRIPT, "tsx", ".tsx")

GO = Lang(
    name="go",
    ext=".go",
    compute="""// compute adds things.
func compute(alpha int, beta int) int {
\ttotal := alpha + beta
\tfor i := 0; i < 10; i++ {
\t\ttotal += i * alpha
\t}
\treturn total
}""",
    other="""func other(x int) []int {
\treturn []int{x, x * 2, x * 3, x * 4}
}""",
    store="""type Store struct {
\titems []string
\tcount int
}

func (s *Store) save(item string) int {
\ts.items = append(s.items, item)
\ts.count = s.count + 1
\treturn len(s.items)
}

func (s *Store) size() int {
\treturn len(s.items)
}""",
    archive="""type Archive struct {
\tcache map[string]string
}

func (a *Archive) load(key string) string {
\tvalue := a.cache[key]
\treturn value
}""",
    store_without_save="""type Store struct {
\titems []string
\tcount int
}

func (s *Archive) save(item string) int {
\ts.items = append(s.items, item)
\ts.count = s.count + 1
\treturn len(s.items)
}

func (s *Store) size() int {
\treturn len(s.items)
}""",
    archive_with_save="""type Archive struct {
\tcache map[string]string
}

func (a *Archive) load(key string) string {
\tvalue := a.cache[key]
\treturn value
}""",
    body_edit=("total += i * alpha", "total -= i * alpha"),
    param_add=("func compute(alpha int, beta int) int", "func compute(alpha int, beta int, gamma int) int"),
    param_rename=("func compute(alpha int, beta int) int", "func compute(alpha int, delta int) int"),
    param_reorder=("func compute(alpha int, beta int) int", "func compute(beta int, alpha int) int"),
    doc_edit=("// compute adds things.", "// compute adds things up, ten times."),
    reformat=lambda t: t.replace("\t", "    ").replace("return total", "// done\n    return total"),
    module=_plain("package m\n\n"),
)

RUST = Lang(
    name="rust",
    ext=".rs",
    compute="""/// Add things.
fn compute(alpha: i32, beta: i32) -> i32 {
    let mut total = alpha + beta;
    for i in 0..10 {
        total += i * alpha;
    }
    total
}""",
    other="""fn other(x: i32) -> Vec<i32> {
    vec![x, x * 2, x * 3, x * 4]
}""",
    store="""struct Store {
    items: Vec<String>,
    count: usize,
}

impl Store {
    fn save(&mut self, item: String) -> usize {
        self.items.push(item);
        self.count = self.count + 1;
        self.items.len()
    }
    fn size(&self) -> usize {
        self.items.len()
    }
}""",
    archive="""impl Archive {
    fn load(&self, key: &str) -> Option<String> {
        let value = self.cache.get(key);
        value.cloned()
    }
}""",
    store_without_save="""struct Store {
    items: Vec<String>,
    count: usize,
}

impl Store {
    fn size(&self) -> usize {
        self.items.len()
    }
}""",
    archive_with_save="""impl Archive {
    fn load(&self, key: &str) -> Option<String> {
        let value = self.cache.get(key);
        value.cloned()
    }
    fn save(&mut self, item: String) -> usize {
        self.items.push(item);
        self.count = self.count + 1;
        self.items.len()
    }
}""",
    body_edit=("total += i * alpha;", "total -= i * alpha;"),
    param_add=("fn compute(alpha: i32, beta: i32)", "fn compute(alpha: i32, beta: i32, gamma: i32)"),
    param_rename=("fn compute(alpha: i32, beta: i32)", "fn compute(alpha: i32, delta: i32)"),
    param_reorder=("fn compute(alpha: i32, beta: i32)", "fn compute(beta: i32, alpha: i32)"),
    doc_edit=("/// Add things.", "/// Add things up, ten times."),
    reformat=lambda t: _reindent(t, "    ", "  ").replace("  total\n", "  // done\n\n  total\n"),
    module=_plain(),
)

JAVA = Lang(
    name="java",
    ext=".java",
    compute="""    /** Add things. */
    static int compute(int alpha, int beta) {
        int total = alpha + beta;
        for (int i = 0; i < 10; i++) {
            total += i * alpha;
        }
        return total;
    }
""",
    other="""    static int[] other(int x) {
        return new int[] {x, x * 2, x * 3, x * 4};
    }
""",
    store="""class Store {
    int save(String item) {
        items.add(item);
        count = count + 1;
        return items.size();
    }
    int size() {
        return items.size();
    }
}""",
    archive="""class Archive {
    String load(String key) {
        String value = cache.get(key);
        return value;
    }
}""",
    store_without_save="""class Store {
    int size() {
        return items.size();
    }
}""",
    archive_with_save="""class Archive {
    String load(String key) {
        String value = cache.get(key);
        return value;
    }
    int save(String item) {
        items.add(item);
        count = count + 1;
        return items.size();
    }
}""",
    body_edit=("total += i * alpha;", "total -= i * alpha;"),
    param_add=("compute(int alpha, int beta)", "compute(int alpha, int beta, int gamma)"),
    param_rename=("compute(int alpha, int beta)", "compute(int alpha, int delta)"),
    param_reorder=("compute(int alpha, int beta)", "compute(int beta, int alpha)"),
    doc_edit=("/** Add things. */", "/** Add things up, ten times. */"),
    reformat=lambda t: _reindent(t, "    ", "  ").replace("  return total;", "  // done\n  return total;"),
    module=_java_module,
)

CODE_LANGUAGES = [PYTHON, JAVASCRIPT, TYPESCRIPT, TSX, GO, RUST, JAVA]


def big_tree(variant: int = 0, modules: int = 48) -> dict[str, bytes]:
    """A tree with enough source (~330 KB) for a pool to take it (``semantic_diff.pool.MIN_PARALLEL_BYTES``):
    Python modules of classes and functions, one module that does not parse, and a Go and a JSON file.
    ``variant`` 1 edits a function body in every other module, renames one module and deletes another."""
    files: dict[str, bytes] = {}
    for m in range(modules):
        parts = [f'"""Module {m}."""\n\nimport os\n']
        for c in range(6):
            methods = "".join(
                f"    def method_{k}(self, a, b={k}):\n"
                f'        """Method {k} of class {c}."""\n'
                f"        total = a + b * {k}\n"
                f"        for i in range({k + 2}):\n"
                f"            total += i  # step\n"
                f"        return total\n\n"
                for k in range(6)
            )
            parts.append(f"\n\nclass Class{c}:\n    size = {c}\n\n{methods}")
        for f in range(8):
            body = "return 2 * x" if variant and m % 2 and f == 3 else f"return x + {f}"
            parts.append(f"\n\ndef function_{f}(x, *args, **kw):\n    {body}\n")
        files[f"pkg/module_{m}.py"] = "".join(parts).encode()
    files["pkg/broken.py"] = b"def broken(:\n    return 1\n"
    files["cmd/main.go"] = b'package main\n\nfunc main() {\n\tprintln("hi")\n}\n'
    files["conf/settings.json"] = b'{"name": "big", "deps": {"a": 1}}\n'
    if variant:
        files["pkg/renamed_1.py"] = files.pop("pkg/module_1.py")
        del files["pkg/module_2.py"]
    return files
