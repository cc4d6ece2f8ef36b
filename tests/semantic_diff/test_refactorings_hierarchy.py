"""Refactorings along a class hierarchy, and look-alikes that are not refactorings.

- pull up from two classes at once: both subclasses had a method, the commit moves it into their
  (new or existing) base: two refactorings, two ``moved`` rows with the one target;
- push down to two subclasses: symmetric, one source, two rows;
- identical copies in two classes: the one related by inheritance is the counterpart;
- a rename whose code is unchanged but whose docstring was written or rewritten;
- a rename whose body changed, backed by a kept docstring;
- look-alikes: a descriptor's ``__get__`` replaced by a property of the outer class; same-named
  definitions in the branches of one ``if``; two copies merged into a helper that is not a base.
"""

from __future__ import annotations

from textwrap import dedent

from trellis.semantic_diff import DiffResult, diff_files

MOVES = ("renamed", "moved", "moved_renamed")


def _src(text: str) -> bytes:
    return dedent(text).lstrip("\n").encode()


def _moves(result: DiffResult) -> set[tuple[str, str, str]]:
    return {(c.change, c.old_qualname, c.qualname) for c in result.changes if c.change in MOVES}


# -- pull up from two classes, push down to two ---------------------------------------------

_SHARED = {
    "refresh": """
    def refresh(self, *keys):
        with self._clock as now:
            for key in keys or list(self._slots):
                self._touch(key, now)
            return len(self._slots)
""",
    "drain": """
    def drain(self, limit=None):
        taken = []
        while self._slots and (limit is None or len(taken) < limit):
            taken.append(self._slots.popitem())
        self._clock.tick()
        return taken
""",
}

_OWN = {
    "Inbox": """
    def deliver(self, letter):
        self._slots[letter.key] = letter
        return letter.key
""",
    "Outbox": """
    def send(self, letter, urgent=False):
        if urgent:
            self._slots.move_to_end(letter.key, last=False)
        return self._transport.push(letter)
""",
}


def _mailbox(base_methods: list[str], sub_methods: dict[str, list[str]], base: str = "Box") -> bytes:
    out = [f"class {base}:\n    def __init__(self, clock):\n        self._clock = clock\n        self._slots = {{}}\n"]
    out += [_SHARED[m] for m in base_methods]
    for name, methods in sub_methods.items():
        out.append(f"\n\nclass {name}({base}):\n" + _OWN[name])
        out += [_SHARED[m] for m in methods]
    return "".join(out).encode()


def test_pull_up_from_two_subclasses_reports_both_sources_moved_to_the_one_target() -> None:
    old = _mailbox([], {"Inbox": ["refresh", "drain"], "Outbox": ["refresh", "drain"]})
    new = _mailbox(["refresh", "drain"], {"Inbox": [], "Outbox": []})
    result = diff_files({"box.py": old}, {"box.py": new})
    assert _moves(result) == {
        ("moved", f"box.{cls}.{m}", f"box.Box.{m}") for cls in ("Inbox", "Outbox") for m in ("refresh", "drain")
    }
    # the target is not "added" and no source is "removed": each has its row
    assert not [c for c in result.changes if c.change in ("added", "removed")]


def test_pull_up_from_two_into_a_new_base_with_one_copy_edited() -> None:
    old = _mailbox([], {"Inbox": ["refresh"], "Outbox": ["refresh"]}, base="Box")
    new = _mailbox(["refresh"], {"Inbox": [], "Outbox": []}, base="TimedBox").replace(
        b"self._touch(key, now)", b"self._touch(key, now, refreshed=True)"
    )
    new = new.replace(b"class TimedBox:", b"class Box:\n    pass\n\n\nclass TimedBox(Box):")
    result = diff_files({"box.py": old}, {"box.py": new})
    moves = _moves(result)
    assert ("moved", "box.Inbox.refresh", "box.TimedBox.refresh") in moves
    assert ("moved", "box.Outbox.refresh", "box.TimedBox.refresh") in moves


def test_push_down_to_two_subclasses_reports_the_source_moved_to_each() -> None:
    old = _mailbox(["refresh", "drain"], {"Inbox": [], "Outbox": []})
    new = _mailbox([], {"Inbox": ["refresh", "drain"], "Outbox": ["refresh", "drain"]})
    result = diff_files({"box.py": old}, {"box.py": new})
    assert _moves(result) == {
        ("moved", f"box.Box.{m}", f"box.{cls}.{m}") for cls in ("Inbox", "Outbox") for m in ("refresh", "drain")
    }
    assert not [c for c in result.changes if c.change in ("added", "removed")]


def test_pull_up_across_files_into_a_base_in_another_module() -> None:
    base_old = b"class Box:\n    def __init__(self, clock):\n        self._clock = clock\n        self._slots = {}\n"
    base_new = base_old + _SHARED["refresh"].encode()
    inbox_old = b"from base import Box\n\n\nclass Inbox(Box):\n" + (_OWN["Inbox"] + _SHARED["refresh"]).encode()
    outbox_old = b"from base import Box\n\n\nclass Outbox(Box):\n" + (_OWN["Outbox"] + _SHARED["refresh"]).encode()
    inbox_new = b"from base import Box\n\n\nclass Inbox(Box):\n" + _OWN["Inbox"].encode()
    outbox_new = b"from base import Box\n\n\nclass Outbox(Box):\n" + _OWN["Outbox"].encode()
    result = diff_files(
        {"base.py": base_old, "inbox.py": inbox_old, "outbox.py": outbox_old},
        {"base.py": base_new, "inbox.py": inbox_new, "outbox.py": outbox_new},
    )
    assert _moves(result) == {
        ("moved", "inbox.Inbox.refresh", "base.Box.refresh"),
        ("moved", "outbox.Outbox.refresh", "base.Box.refresh"),
    }


def test_copies_in_two_unrelated_classes_merged_into_a_helper_are_not_a_pull_up() -> None:
    # the copies leave two classes that do not derive from the class that receives them
    old = _mailbox([], {"Inbox": ["refresh"], "Outbox": ["refresh"]})
    new = _mailbox([], {"Inbox": [], "Outbox": []}) + b"\n\nclass Helper:\n" + _SHARED["refresh"].encode()
    result = diff_files({"box.py": old}, {"box.py": new})
    assert _moves(result) == set()


def test_an_override_deleted_under_an_existing_base_method_is_not_a_pull_up() -> None:
    old = _mailbox(["refresh"], {"Inbox": ["refresh"], "Outbox": []})
    new = _mailbox(["refresh"], {"Inbox": [], "Outbox": []})
    result = diff_files({"box.py": old}, {"box.py": new})
    assert _moves(result) == set()
    assert ("removed", "box.Inbox.refresh") in {(c.change, c.qualname) for c in result.changes}


def test_identical_copies_the_counterpart_is_the_one_in_the_base() -> None:
    # the method leaves Inbox; identical copies appear in its base and in an unrelated class
    old = _mailbox([], {"Inbox": ["drain"]})
    new = _mailbox(["drain"], {"Inbox": []}) + b"\n\nclass Archive:\n" + _SHARED["drain"].encode()
    result = diff_files({"box.py": old}, {"box.py": new})
    assert _moves(result) == {("moved", "box.Inbox.drain", "box.Box.drain")}
    # and back: the copy in the base moves down, the unrelated one is removed
    result = diff_files({"box.py": new}, {"box.py": old})
    assert _moves(result) == {("moved", "box.Box.drain", "box.Inbox.drain")}


_JAVA_SHARED = """
    public int refresh(List<String> keys) {
        int touched = 0;
        for (String key : keys) {
            if (slots.containsKey(key)) {
                slots.put(key, clock.now());
                touched += 1;
            }
        }
        return touched;
    }
"""


def _java(cls: str, base: str | None, body: str) -> bytes:
    ext = f" extends {base}" if base else ""
    return f"package box;\n\npublic class {cls}{ext} {{\n{body}}}\n".encode()


def test_java_pull_up_from_two_subclasses() -> None:
    fields = "    protected Map<String, Long> slots;\n    protected Clock clock;\n"
    old = {
        "src/box/Box.java": _java("Box", None, fields),
        "src/box/Inbox.java": _java(
            "Inbox", "Box", "    public void deliver(String k) { slots.put(k, 0L); }\n" + _JAVA_SHARED
        ),
        "src/box/Outbox.java": _java(
            "Outbox", "Box", "    public void send(String k) { slots.remove(k); }\n" + _JAVA_SHARED
        ),
    }
    new = {
        "src/box/Box.java": _java("Box", None, fields + _JAVA_SHARED),
        "src/box/Inbox.java": _java("Inbox", "Box", "    public void deliver(String k) { slots.put(k, 0L); }\n"),
        "src/box/Outbox.java": _java("Outbox", "Box", "    public void send(String k) { slots.remove(k); }\n"),
    }
    result = diff_files(old, new)
    assert _moves(result) == {
        ("moved", "src.box.Inbox.Inbox.refresh", "src.box.Box.Box.refresh"),
        ("moved", "src.box.Outbox.Outbox.refresh", "src.box.Box.Box.refresh"),
    }
    # and the reverse commit is a push down to both
    result = diff_files(new, old)
    assert _moves(result) == {
        ("moved", "src.box.Box.Box.refresh", "src.box.Inbox.Inbox.refresh"),
        ("moved", "src.box.Box.Box.refresh", "src.box.Outbox.Outbox.refresh"),
    }


_TS_SHARED = """
  refresh(keys: string[]): number {
    let touched = 0;
    for (const key of keys) {
      if (this.slots.has(key)) {
        this.slots.set(key, this.clock.now());
        touched += 1;
      }
    }
    return touched;
  }
"""


def test_typescript_pull_up_from_two_subclasses() -> None:
    head = (
        "export class Box {\n  protected slots = new Map<string, number>();\n  constructor(protected clock: Clock) {}\n"
    )
    inbox = "export class Inbox extends Box {\n  deliver(k: string): void { this.slots.set(k, 0); }\n"
    outbox = "export class Outbox extends Box {\n  send(k: string): void { this.slots.delete(k); }\n"
    old = (head + "}\n\n" + inbox + _TS_SHARED + "}\n\n" + outbox + _TS_SHARED + "}\n").encode()
    new = (head + _TS_SHARED + "}\n\n" + inbox + "}\n\n" + outbox + "}\n").encode()
    result = diff_files({"src/box.ts": old}, {"src/box.ts": new})
    assert _moves(result) == {
        ("moved", "src.box.Inbox.refresh", "src.box.Box.refresh"),
        ("moved", "src.box.Outbox.refresh", "src.box.Box.refresh"),
    }


# -- renames backed by a docstring ----------------------------------------------------------


def test_rename_whose_code_is_unchanged_and_whose_docstring_was_written() -> None:
    old = _src("""
        class Store:
            def _slot_weight(self, key):
                # TODO: make public
                return self._data[key][1]

            def total(self):
                return sum(self._slot_weight(k) for k in self._data)
        """)
    new = _src('''
        class Store:
            def total(self):
                weight = self._weights
                return sum(weight(k) for k in self._data)

            def cost_of(self, key):
                """Return what the item stored under ``key`` costs, as the store counts it."""
                return self._data[key][1]
        ''')
    result = diff_files({"store.py": old}, {"store.py": new})
    assert _moves(result) == {("renamed", "store.Store._slot_weight", "store.Store.cost_of")}


def test_rename_with_an_edited_body_and_the_same_docstring() -> None:
    old = _src('''
        def read_settings(path, defaults=None):
            """Read the settings file at ``path`` and merge them over ``defaults``."""
            values = dict(defaults or {})
            with open(path) as handle:
                for line in handle:
                    key, _, value = line.partition("=")
                    values[key.strip()] = value.strip()
            return values
        ''')
    new = _src('''
        def load_settings(path, defaults=None):
            """Read the settings file at ``path`` and merge them over ``defaults``."""
            values = dict(defaults or {})
            text = pathlib.Path(path).read_text(encoding="utf-8")
            for line in text.splitlines():
                if not line.strip() or line.startswith("#"):
                    continue
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip()
            return values
        ''')
    result = diff_files({"conf.py": old}, {"conf.py": new})
    assert _moves(result) == {("renamed", "conf.read_settings", "conf.load_settings")}


def test_a_different_function_with_a_generic_docstring_is_not_a_rename() -> None:
    old = _src('''
        def read_settings(path):
            """Helper."""
            with open(path) as handle:
                return dict(line.split("=", 1) for line in handle)
        ''')
    new = _src('''
        def count_words(text):
            """Helper."""
            words = text.split()
            return len(set(word.lower() for word in words))
        ''')
    result = diff_files({"conf.py": old}, {"conf.py": new})
    assert _moves(result) == set()


# -- look-alikes ------------------------------------------------------------------------------


def test_a_nested_descriptor_replaced_by_a_property_of_the_outer_class_is_not_a_move() -> None:
    old = _src("""
        class Guard:
            def __init__(self, func, errors):
                self.func = func
                self.errors = errors

            @object.__new__
            class __name__:
                def __get__(self, instance, owner):
                    if instance is None:
                        return "Guard"
                    errors = instance.errors
                    try:
                        if isinstance(errors, tuple):
                            names = "_or_".join(e.__name__ for e in errors)
                        else:
                            names = errors.__name__
                        return "%s_guarding_%s" % (instance.func.__name__, names)
                    except AttributeError:
                        return "guarding"
        """)
    new = _src("""
        class Guard:
            def __init__(self, func, errors):
                self.func = func
                self.errors = errors

            @property
            def __name__(self):
                errors = self.errors
                try:
                    if isinstance(errors, tuple):
                        names = "_or_".join(e.__name__ for e in errors)
                    else:
                        names = errors.__name__
                    return "%s_guarding_%s" % (self.func.__name__, names)
                except AttributeError:
                    return "guarding"
        """)
    result = diff_files({"guard.py": old}, {"guard.py": new})
    assert _moves(result) == set()


def test_a_top_level_descriptor_replaced_by_a_property_is_not_a_move() -> None:
    old = _src('''
        class _GuardDoc:
            def __init__(self, class_doc):
                self._class_doc = class_doc

            def __get__(self, instance, owner):
                if instance is None:
                    return self._class_doc
                errors = instance.errors
                try:
                    if isinstance(errors, tuple):
                        names = ", ".join(e.__name__ for e in errors)
                    else:
                        names = errors.__name__
                    return "Calls %s, guarding against %s." % (instance.func.__name__, names)
                except AttributeError:
                    return self._class_doc


        class Guard:
            """Call a function, guarding against errors."""

            __doc__ = _GuardDoc(__doc__)
        ''')
    new = _src('''
        class Guard:
            """Call a function, guarding against errors."""

            @instanceproperty(classval=__doc__)
            def __doc__(self):
                errors = self.errors
                try:
                    if isinstance(errors, tuple):
                        names = ", ".join(e.__name__ for e in errors)
                    else:
                        names = errors.__name__
                    return "Calls %s, guarding against %s." % (self.func.__name__, names)
                except AttributeError:
                    return type(self).__doc__
        ''')
    result = diff_files({"guard.py": old}, {"guard.py": new})
    assert _moves(result) == set()


_BRANCH_A = """
    def render(obj):
        def fast_field(name):
            return f"{name}={getattr(obj, name)!r}"

        return f"{type(obj).__name__}({', '.join(map(fast_field, fields))})"
"""
_BRANCH_B = """
    def render(obj):
        def slow_field(name):
            value = getattr(obj, name)
            return "%s=%r" % (name, value)

        parts = []
        for name in fields:
            parts.append(slow_field(name))
        return "%s(%s)" % (type(obj).__name__, ", ".join(parts))
"""


def _branches(cond: str, a: str, b: str) -> bytes:
    def block(text: str) -> str:
        return "\n".join("    " + line if line else line for line in text.strip("\n").splitlines())

    return f"def make_render(fields):\n    if {cond}:\n{block(a)}\n    else:\n{block(b)}\n    return render\n".encode()


def test_same_named_definitions_in_if_else_branches_pair_with_their_own_branch() -> None:
    # the condition is inverted (the branches swap places) and both definitions are edited:
    # each still pairs with its own, so nothing moved, not even the helpers nested in them
    a2 = _BRANCH_A.replace("        def fast_field", "        fields = sorted(fields)\n\n        def fast_field")
    b2 = _BRANCH_B.replace("value = getattr(obj, name)", "value = getattr(obj, name, None)")
    result = diff_files({"r.py": _branches("FAST", _BRANCH_A, _BRANCH_B)}, {"r.py": _branches("not FAST", b2, a2)})
    assert _moves(result) == set()
    assert {(c.change, c.qualname) for c in result.changes} == {
        ("modified", "r.make_render"),
        ("modified", "r.make_render.render"),
        ("modified", "r.make_render.render.slow_field"),
    }


def test_one_definition_split_into_if_else_branches_pairs_with_the_alike_branch() -> None:
    old = _src('''
        def make_render(fields):
            """Make a repr for ``fields``."""

            def render(obj):
                parts = []
                for name in fields:
                    parts.append("%s=%r" % (name, getattr(obj, name)))
                return "%s(%s)" % (type(obj).__name__, ", ".join(parts))

            return render
        ''')
    new = _src('''
        if FAST:

            def make_render(fields, cls):
                lines = ["def render(obj):", "  return f'...'"]
                return compile_lines(lines, fields)

        else:

            def make_render(fields, _):
                """Make a repr for ``fields`` (any class)."""

                def render(obj):
                    parts = []
                    for name in fields:
                        parts.append("%s=%r" % (name, getattr(obj, name, None)))
                    return "%s(%s)" % (type(obj).__name__, ", ".join(parts))

                return render
        ''')
    result = diff_files({"r.py": old}, {"r.py": new})
    assert _moves(result) == set()
    changes = {(c.change, c.qualname) for c in result.changes}
    assert ("added", "r.make_render") in changes  # the new branch
    # the nested helper stays under its own definition: not moved onto its own name
    assert ("modified", "r.make_render.render") in changes


def test_rename_with_a_rewritten_body_backed_by_its_kept_docstring() -> None:
    old = _src('''
        class Settings:
            def read_file(self, path, defaults=None):
                """Read the settings file at ``path`` and merge its values over ``defaults``."""
                values = dict(defaults or {})
                with open(path) as handle:
                    for line in handle:
                        key, _, value = line.partition("=")
                        values[key.strip()] = value.strip()
                self.values = values
                return values
        ''')
    new = _src('''
        class Settings:
            def load(self, path, defaults=None):
                """Read the settings file at ``path`` and merge its values over ``defaults``."""
                values = dict(defaults or {})
                text = pathlib.Path(path).read_text(encoding="utf-8")
                for number, line in enumerate(text.splitlines(), 1):
                    if not line.strip() or line.lstrip().startswith("#"):
                        continue
                    if "=" not in line:
                        raise SettingsError(path, number, line)
                    key, _, value = line.partition("=")
                    values[key.strip().lower()] = value.strip()
                self.values = values
                return values
        ''')
    result = diff_files({"conf.py": old}, {"conf.py": new})
    assert _moves(result) == {("renamed", "conf.Settings.read_file", "conf.Settings.load")}


def test_a_kept_short_docstring_is_no_evidence() -> None:
    old = _src('''
        class Settings:
            def read_file(self, path):
                """Read it."""
                with open(path) as handle:
                    return dict(line.split("=", 1) for line in handle)
        ''')
    new = _src('''
        class Settings:
            def words(self, path):
                """Read it."""
                text = pathlib.Path(path).read_text()
                return sorted(set(text.lower().split()))
        ''')
    result = diff_files({"conf.py": old}, {"conf.py": new})
    assert _moves(result) == set()


_CHECK = """
    def {name}(self):
        cached = Cached(LRUCache(maxsize=2))
        self.assertEqual(cached.get_typed(0), 0)
        self.assertEqual(cached.get_typed(1), 1)
        self.assertEqual(cached.get_typed(1.0), 2)
"""


def _tests(*names: str) -> bytes:
    out = "class CachedTest(unittest.TestCase):\n"
    for name in names:
        if name.startswith("other_"):
            out += f"\n    def {name}(self):\n        self.assertTrue(run_{name}())\n"
        else:
            out += _CHECK.format(name=name)
    return out.encode()


def test_identical_copies_in_one_class_the_one_in_the_old_place_is_the_rename() -> None:
    old = _tests("other_first", "test_typed", "other_last")
    new = _tests("other_first", "test_typed_lru", "other_last", "test_typed_dict")
    result = diff_files({"t.py": old}, {"t.py": new})
    assert _moves(result) == {("renamed", "t.CachedTest.test_typed", "t.CachedTest.test_typed_lru")}


def test_identical_copies_in_other_places_stay_a_tie() -> None:
    old = _tests("other_first", "test_typed", "other_last")
    new = _tests("other_first", "other_last", "test_typed_lru", "other_more", "test_typed_dict")
    result = diff_files({"t.py": old}, {"t.py": new})
    assert _moves(result) == set()
