"""Refactorings as real projects commit them: classes renamed or moved with their members,
renames whose body also changed, chains, swaps, moves whose call sites were updated, and
look-alikes that are not renames."""

from __future__ import annotations

from textwrap import dedent, indent

from trellis.semantic_diff import DiffResult, EntityChange, diff_files

MOVES = ("renamed", "moved", "moved_renamed")


def _src(text: str) -> bytes:
    return dedent(text).lstrip("\n").encode()


def _moves(result: DiffResult) -> set[tuple[str, str, str]]:
    return {(c.change, c.old_qualname, c.qualname) for c in result.changes if c.change in MOVES}


def _one(result: DiffResult, qualname: str) -> EntityChange:
    found = [c for c in result.changes if c.qualname == qualname]
    assert len(found) == 1, (qualname, result.changes)
    return found[0]


# -- classes: one change for the class, members follow ------------------------------------

_LEDGER = '''
class Ledger(Base):
    """Entries of one account, in posting order."""

    currency = "EUR"

    def __init__(self, account, entries=()):
        self.account = account
        self.entries = list(entries)

    def post(self, amount, memo=""):
        if not amount:
            raise ValueError("empty posting")
        self.entries.append((amount, memo))
        return len(self.entries)

    def balance(self):
        total = 0
        for amount, _ in self.entries:
            total += amount
        return total

    def memos(self):
        return [memo for _, memo in self.entries if memo]
'''


def _ledger(name: str, balance_edit: bool = False, reorder: bool = False) -> str:
    text = dedent(_LEDGER).replace("class Ledger(", f"class {name}(")
    if balance_edit:
        text = text.replace("        return total\n", "        return round(total, 2)\n")
    if reorder:
        head, rest = text.split("    def post(", 1)
        post, rest = rest.split("    def balance(", 1)
        text = head + "    def balance(" + rest.rstrip("\n") + "\n\n    def post(" + post.rstrip("\n") + "\n"
    return text


def _assert_members_follow(result: DiffResult, new_class: str, edited: set[str]) -> None:
    members = {"__init__", "post", "balance", "memos"}
    reported = [c for c in result.changes if c.qualname.startswith(new_class + ".")]
    # members are never reported as moved or renamed by themselves
    assert all(c.change == "modified" for c in reported), reported
    assert {c.qualname.rsplit(".", 1)[-1] for c in reported} == edited
    assert all(c.follows == new_class for c in reported)
    carried = {c.qualname.rsplit(".", 1)[-1]: c for c in result.carried}
    assert set(carried) == members - edited
    assert all(
        c.change == "moved" and c.follows == new_class and c.old_qualname != c.qualname for c in carried.values()
    )


def test_class_renamed_in_its_file_is_one_change_and_its_methods_follow() -> None:
    old = {"books/ledger.py": ("import decimal\n\n\n" + _ledger("Ledger")).encode()}
    new = {"books/ledger.py": ("import decimal\n\n\n" + _ledger("AccountLedger", balance_edit=True)).encode()}
    result = diff_files(old, new)
    assert _moves(result) == {("renamed", "books.ledger.Ledger", "books.ledger.AccountLedger")}
    _assert_members_follow(result, "books.ledger.AccountLedger", {"balance"})
    assert _one(result, "books.ledger.AccountLedger.balance").old_qualname == "books.ledger.Ledger.balance"


def test_class_moved_to_another_file_is_one_move() -> None:
    old = {
        "books/ledger.py": ("import decimal\n\n\n" + _ledger("Ledger")).encode(),
        "books/accounts.py": b"import decimal\n",
    }
    new = {
        "books/ledger.py": b"import decimal\n",
        "books/accounts.py": ("import decimal\n\n\n" + _ledger("Ledger", reorder=True)).encode(),
    }
    result = diff_files(old, new)
    assert _moves(result) == {("moved", "books.ledger.Ledger", "books.accounts.Ledger")}
    _assert_members_follow(result, "books.accounts.Ledger", set())


def test_class_moved_and_renamed_with_edits_and_reordered_members() -> None:
    old = {
        "books/ledger.py": ("import decimal\n\n\n" + _ledger("Ledger")).encode(),
        "books/core/journal.py": b"import decimal\n",
    }
    new = {
        "books/ledger.py": b"import decimal\n",
        "books/core/journal.py": (
            "import decimal\n\n\n" + _ledger("Journal", balance_edit=True, reorder=True)
        ).encode(),
    }
    result = diff_files(old, new)
    assert _moves(result) == {("moved_renamed", "books.ledger.Ledger", "books.core.journal.Journal")}
    _assert_members_follow(result, "books.core.journal.Journal", {"balance"})


def test_java_class_renamed_with_its_file_keeps_constructors_and_methods() -> None:
    body = """
        package shop.cart;

        import java.util.ArrayList;
        import java.util.List;

        public class NAME {
            private final List<Item> items = new ArrayList<>();
            private final String owner;

            public NAME(String owner) {
                this.owner = owner;
            }

            public NAME() {
                this("guest");
            }

            public void add(Item item) {
                if (item == null) {
                    throw new IllegalArgumentException("item");
                }
                items.add(item);
            }

            public long total() {
                long sum = 0;
                for (Item item : items) {
                    sum += item.price() * item.quantity();
                }
                return sum;
            }
        }
    """
    old = {"src/shop/cart/Cart.java": _src(body.replace("NAME", "Cart"))}
    new = {"src/shop/cart/Basket.java": _src(body.replace("NAME", "Basket"))}
    result = diff_files(old, new)
    classes = [c for c in result.changes if c.kind == "class"]
    assert [(c.change, c.old_qualname.rsplit(".", 1)[-1], c.qualname.rsplit(".", 1)[-1]) for c in classes] == [
        ("renamed", "Cart", "Basket")
    ]
    assert not [c for c in result.changes if c.kind in ("method", "constructor")]
    assert {c.kind for c in result.carried} == {"method", "constructor"}
    assert all(c.follows.endswith(".Basket") for c in result.carried)


def test_typescript_class_moved_to_another_module() -> None:
    cls = """
        export class RetryPolicy {
          constructor(private attempts: number, private delayMs: number) {}

          shouldRetry(attempt: number, error: Error): boolean {
            if (error.name === "AbortError") {
              return false;
            }
            return attempt < this.attempts;
          }

          nextDelay(attempt: number): number {
            return Math.min(this.delayMs * 2 ** attempt, 30000);
          }
        }
    """
    old = {
        "src/http/client.ts": _src('import { fetch } from "./fetch";\n' + dedent(cls)),
        "src/http/retry.ts": b"export const DEFAULT_ATTEMPTS = 3;\n",
    }
    new = {
        "src/http/client.ts": b'import { fetch } from "./fetch";\nimport { RetryPolicy } from "./retry";\n',
        "src/http/retry.ts": b"export const DEFAULT_ATTEMPTS = 3;\n" + _src(cls),
    }
    result = diff_files(old, new)
    assert _moves(result) == {("moved", "src.http.client.RetryPolicy", "src.http.retry.RetryPolicy")}
    assert {c.qualname.rsplit(".", 1)[-1] for c in result.carried} == {"constructor", "shouldRetry", "nextDelay"}


def test_two_unrelated_classes_with_the_same_method_names_are_not_a_rename() -> None:
    old = _src("""
        class CsvReader:
            def __init__(self, path):
                self.path = path
                self.delimiter = ","

            def read(self):
                with open(self.path) as fh:
                    return [line.split(self.delimiter) for line in fh]
    """)
    new = _src("""
        class HttpFetcher:
            def __init__(self, url):
                self.session = requests.Session()
                self.url = url.rstrip("/")

            def read(self):
                response = self.session.get(self.url, timeout=10)
                response.raise_for_status()
                return response.json()
    """)
    result = diff_files({"io.py": old}, {"io.py": new})
    assert not _moves(result)
    assert {(c.change, c.kind) for c in result.changes} >= {("added", "class"), ("removed", "class")}


# -- renames with edits, chains, swaps, moves with updated call sites ------------------

_TOTAL = """
def compute_total(items, factor):
    result = 0
    for item in items:
        result += item.price * factor
    return result
"""
_TOTAL_EDITED = """
def sum_prices(items, factor):
    result = 0
    for item in items:
        if item.active:
            result += item.price * factor * item.quantity
    return round(result, 2)
"""
_CALLERS = """

def report(items):
    return {name}(items, 2)


def invoice(items):
    return {name}(items, 3) + 1
"""


def test_rename_with_body_edit_is_found_when_call_sites_were_updated() -> None:
    old = {"shop/prices.py": _src(_TOTAL + _CALLERS.format(name="compute_total"))}
    new = {"shop/prices.py": _src(_TOTAL_EDITED + _CALLERS.format(name="sum_prices"))}
    result = diff_files(old, new)
    assert _moves(result) == {("renamed", "shop.prices.compute_total", "shop.prices.sum_prices")}
    assert "body" in _one(result, "shop.prices.sum_prices").details


def test_rename_with_body_edit_and_no_other_evidence_stays_added_and_removed() -> None:
    result = diff_files({"shop/prices.py": _src(_TOTAL)}, {"shop/prices.py": _src(_TOTAL_EDITED)})
    assert not _moves(result)
    assert {c.change for c in result.changes} == {"added", "removed"}


def test_callers_switching_to_a_different_function_is_not_a_rename() -> None:
    other = """
        def fetch_rates(currency, day):
            response = http.get(f"/rates/{currency}", params={"day": day})
            return {row["code"]: row["rate"] for row in response.json()}
    """
    old = {"shop/prices.py": _src(_TOTAL + _CALLERS.format(name="compute_total"))}
    new = {"shop/prices.py": _src(other) + _src(_CALLERS.format(name="fetch_rates"))}
    assert not _moves(diff_files(old, new))


_A = "def {n}(x):\n    y = x * 2\n    return [y, y + 1, y + 2, 'alpha']\n"
_B = "def {n}(x):\n    z = str(x)\n    return {{'key': z, 'len': len(z), 'beta': True}}\n"
_C = "def {n}(rows):\n    seen = set()\n    for row in rows:\n        seen.add(row.id)\n    return sorted(seen)\n"


def test_rename_chain_in_one_commit() -> None:
    old = {"m.py": "\n\n".join([_A.format(n="a"), _B.format(n="b"), _C.format(n="c")]).encode()}
    new = {"m.py": "\n\n".join([_A.format(n="b"), _B.format(n="c"), _C.format(n="d")]).encode()}
    assert _moves(diff_files(old, new)) == {
        ("renamed", "m.a", "m.b"),
        ("renamed", "m.b", "m.c"),
        ("renamed", "m.c", "m.d"),
    }


def test_swap_in_one_commit() -> None:
    old = {"m.py": (_A.format(n="first") + "\n\n" + _B.format(n="second")).encode()}
    new = {"m.py": (_A.format(n="second") + "\n\n" + _B.format(n="first")).encode()}
    assert _moves(diff_files(old, new)) == {("renamed", "m.first", "m.second"), ("renamed", "m.second", "m.first")}


def test_extract_method_is_not_a_rename_of_the_extracted_body() -> None:
    before = _src("""
        def names(rows):
            out = []
            for r in rows:
                if r.valid and r.score > 3:
                    out.append(r.name.upper())
            return sorted(out)
    """)
    after = _src("""
        def names(rows):
            return sorted(_valid_names(rows))


        def _valid_names(rows):
            out = []
            for r in rows:
                if r.valid and r.score > 3:
                    out.append(r.name.upper())
            return out
    """)
    result = diff_files({"m.py": before}, {"m.py": after})
    assert not _moves(result)
    assert {(c.change, c.qualname) for c in result.changes} == {("modified", "m.names"), ("added", "m._valid_names")}


_PARSE = """
def parse_config(path, strict):
    with open(path) as fh:
        data = fh.read()
    if strict and not data:
        raise ValueError(path)
    return data.splitlines()
"""


def test_move_to_another_module_with_updated_call_sites() -> None:
    moved = _PARSE.replace("parse_config", "load_config").replace(
        "raise ValueError(path)", "raise ValueError(f'empty config: {path}')"
    )
    old = {
        "app/util.py": b"import os\n\n" + _src(_PARSE),
        "app/main.py": b"from app.util import parse_config\n\n\ndef main():\n    return parse_config('x', True)\n",
        "app/config.py": b"import os\n",
    }
    new = {
        "app/util.py": b"import os\n",
        "app/main.py": b"from app.config import load_config\n\n\ndef main():\n    return load_config('x', True)\n",
        "app/config.py": b"import os\n\n" + _src(moved),
    }
    assert _moves(diff_files(old, new)) == {("moved_renamed", "app.util.parse_config", "app.config.load_config")}


def test_identical_helpers_renamed_in_two_files_pair_within_their_files() -> None:
    helper = "def {n}(value):\n    return value % 2 == 0 and value > 0\n"
    files = ["tests/test_a.py", "tests/test_b.py"]
    old = {p: helper.format(n="even").encode() for p in files}
    new = {p: helper.format(n="is_even").encode() for p in files}
    moves = _moves(diff_files(old, new))
    assert moves == {
        ("renamed", "tests.test_a.even", "tests.test_a.is_even"),
        ("renamed", "tests.test_b.even", "tests.test_b.is_even"),
    }


def test_java_class_moved_to_another_package_moves_with_its_file() -> None:
    body = """
        package com.acme.PKG;

        public class RateLimiter {
            private final int permits;
            private long windowStart;

            public RateLimiter(int permits) {
                this.permits = permits;
            }

            public boolean tryAcquire(long now, int used) {
                if (now - windowStart > 1000) {
                    windowStart = now;
                    return true;
                }
                return used < permits;
            }
        }
    """
    old = {"src/main/java/com/acme/http/RateLimiter.java": _src(body.replace("PKG", "http"))}
    new = {"src/main/java/com/acme/limits/RateLimiter.java": _src(body.replace("PKG", "limits"))}
    result = diff_files(old, new)
    assert (
        "moved",
        "src.main.java.com.acme.http.RateLimiter.RateLimiter",
        "src.main.java.com.acme.limits.RateLimiter.RateLimiter",
    ) in _moves(result)
    assert not [c for c in result.changes if c.kind in ("method", "constructor")]


def test_a_class_rewritten_while_moved_is_one_change_when_its_members_moved_with_it() -> None:
    same = """
    def get(self, key, default=None):
        try:
            return self[key]
        except KeyError:
            return default

    def keys_sorted(self):
        return sorted(self._data, key=lambda k: (str(type(k)), k))

    def __len__(self):
        return len(self._data)
"""
    old = (
        _src("""
        def memory_store(limit):
            class MemoryStore(dict):
                def __init__(self):
                    self._data = {}
                    self.limit = limit

                def __setitem__(self, key, value):
                    while len(self._data) >= self.limit:
                        self._data.pop(next(iter(self._data)))
                    self._data[key] = value
    """)
        + indent(dedent(same), " " * 8).encode()
        + b"\n    return MemoryStore\n"
    )
    new = (
        b"import operator\n\n\n"
        + _src('''
        class _Backend(dict):
            """Keeps what fits, evicting the oldest first."""

            def __init__(self, limit, sizeof=len):
                self._data = {}
                self._sizes = {}
                self.limit = limit
                self.sizeof = sizeof

            def __setitem__(self, key, value):
                size = self.sizeof(value)
                if size > self.limit:
                    raise ValueError("value too large")
                while self.used + size > self.limit:
                    self.evict()
                self._data[key] = value
                self._sizes[key] = size

            def evict(self):
                key = next(iter(self._data))
                del self._sizes[key]
                return self._data.pop(key)

            @property
            def used(self):
                return sum(self._sizes.values())
    ''')
        + indent(dedent(same), " " * 4).encode()
    )
    result = diff_files(
        {"cache/store.py": old, "cache/backends.py": b"import operator\n"},
        {"cache/store.py": b"", "cache/backends.py": new},
    )
    moves = _moves(result)
    assert ("moved_renamed", "cache.store.memory_store.MemoryStore", "cache.backends._Backend") in moves
    assert not [m for m in moves if m[1].count(".") > 3], moves  # no member moved on its own
    # re-indented, so "modified" (formatting) rather than carried unchanged: following the class either way
    follow = {
        c.qualname.rsplit(".", 1)[-1] for c in result.changes + result.carried if c.follows == "cache.backends._Backend"
    }
    assert follow >= {"get", "keys_sorted", "__len__"}


def test_a_chain_of_test_renames_inside_one_class() -> None:
    old = _src('''
        class TestHash:
            def test_no_hash(self):
                """If `no_hash` is set, ignore that attribute."""
                C = make_class("C", {"a": attr(no_hash=True), "b": attr()})
                assert hash(C(1, 2)) == hash(C(2, 2))

            def test_hash(self):
                """__hash__ returns different hashes for different values."""
                assert hash(C(1, 2)) != hash(C(1, 1))
                assert hash(C(2, 2)) != hash(C(1, 2))
    ''')
    new = (
        old.replace(b"test_hash(", b"test_hash_works(")
        .replace(b"test_no_hash(", b"test_hash(")
        .replace(b"no_hash=True", b"hash=False")
        .replace(b"If `no_hash` is set", b"If `hash` is False")
    )
    assert _moves(diff_files({"tests/test_h.py": old}, {"tests/test_h.py": new})) == {
        ("renamed", "tests.test_h.TestHash.test_hash", "tests.test_h.TestHash.test_hash_works"),
        ("renamed", "tests.test_h.TestHash.test_no_hash", "tests.test_h.TestHash.test_hash"),
    }


_TEST_OLD = """
class TestCache:
    def test_expiry(self, clock):
        cache = TTLCache(maxsize=2, ttl=10, timer=clock)
        cache[1] = "one"
        clock.tick(5)
        assert cache[1] == "one"
        clock.tick(6)
        assert 1 not in cache
"""
_TEST_NEW = """
class TestCache:
    def {name}(self, clock):
        cache = TTLCache(maxsize=2, ttl=10, timer=clock)
        cache[1] = "one"
        clock.tick(10)
        assert cache.get(1) is None
        assert len(cache) == 0
        cache.expire(clock() + 1)
"""


def test_a_test_renamed_in_place_with_edits_keeping_a_word_of_its_name() -> None:
    result = diff_files(
        {"tests/test_ttl.py": _src(_TEST_OLD)}, {"tests/test_ttl.py": _src(_TEST_NEW.format(name="test_expiry_at_ttl"))}
    )
    assert _moves(result) == {
        ("renamed", "tests.test_ttl.TestCache.test_expiry", "tests.test_ttl.TestCache.test_expiry_at_ttl")
    }


def test_a_test_replaced_in_place_by_an_edited_one_with_another_name_is_not_a_rename() -> None:
    result = diff_files(
        {"tests/test_ttl.py": _src(_TEST_OLD)}, {"tests/test_ttl.py": _src(_TEST_NEW.format(name="test_missing_key"))}
    )
    assert not _moves(result)


def test_a_generic_name_moving_alone_between_unrelated_classes_is_not_a_move() -> None:
    old = _src("""
        class Lock:
            def __init__(self, owner, timeout=10):
                self.owner = owner
                self.timeout = timeout
                self.count = 0

            def acquire(self):
                self.count += 1
                return self.count == 1
    """)
    new = _src("""
        class Session:
            def __init__(self, owner, timeout=30):
                self.owner = owner
                self.timeout = timeout
                self.history = []
                self.started = clock.now()

            def touch(self, when):
                self.history.append(when)
                return len(self.history)
    """)
    result = diff_files({"app/sync.py": old}, {"app/sync.py": new})
    assert not _moves(result)
