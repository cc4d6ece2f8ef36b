"""Credentials never stored: the redactor on planted secrets, its invariants, and the store's write paths.

Every secret here is made up for the test (random characters in a provider's
published shape), none is a real credential.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import GIT_ENV, repo_path
from trellis import vcs
from trellis.vcs.redaction import REDACTION_KINDS_KEY, REDACTIONS_KEY, Redactor, SecretPattern, marker

ALICE = vcs.Identity("alice")

# (kind, a planted secret, the text it is planted in: {} is the secret)
PLANTED = [
    ("openai_key", "sk-" + "T3BlbkFJ" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8s9T0", "export OPENAI_API_KEY={}"),
    ("openai_key", "sk-proj-" + "Zx9_Yw8-Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe9Dc8Ba7", "client = OpenAI(api_key='{}')"),
    (
        "anthropic_key",
        "sk-ant-api03-" + "q1W2e3R4t5Y6u7I8o9P0a1S2d3F4g5H6j7K8l9Z0x1C2v3B4n5M6-AbCdEf",
        "ANTHROPIC_API_KEY={} claude",
    ),
    ("aws_access_key", "AKIA" + "Q7X2M9T4K8W3N6P5", "aws configure set aws_access_key_id {}"),
    (
        "github_token",
        "ghp_" + "a8F3k2L9m4N7p1Q6r5S0t2U8v3W9x4Y7z1B6",
        "git clone https://x-access-token:{}@github.com/o/r",
    ),
    ("github_token", "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ", "GH_TOKEN={}"),
    ("google_api_key", "AIza" + "SyD4-k9Lm2Qx7Vb1Nz8Ty3Wc6Rp0Hj5Fg2Es", "maps?key={}&q=x"),
    ("slack_token", "xoxb-" + "123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "SLACK_BOT_TOKEN: {}"),
    (
        "bearer_token",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        "curl -H 'Authorization: Bearer {}' https://api.example.com",
    ),
    ("bearer_token", "dXNlcjpodW50ZXIyaHVudGVyMg==", "Authorization: Basic {}"),
    (
        "private_key",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n"
        "AAAAAAAAAAEAAAAzAAAAC3NzaC1lZDI1NTE5AAAAIH\n-----END OPENSSH PRIVATE KEY-----",
        "cat ~/.ssh/id_ed25519\n{}\n$ ",
    ),
    ("password", "Tr0ub4dor&3", "mysql -u root --password={} db"),
    ("password", "correct-horse", 'config = {{"db_password": "{}"}}'),
    ("url_credentials", "s3cretPassw0rd", "DATABASE_URL=postgres://app:{}@db.internal:5432/app"),
    ("secret", "9fK2mQ7xL4vB8nR1tZ6wC3yH", "JWT_SECRET={}"),
    ("secret", "Qm9vYmFyQmF6UXV4MTIzNDU2Nzg5", '"client_secret": "{}"'),
]


@pytest.mark.parametrize(
    ("kind", "secret", "context"), PLANTED, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(PLANTED)]
)
def test_each_planted_secret_is_replaced_by_its_marker(kind: str, secret: str, context: str) -> None:
    text = context.format(secret)
    redacted = Redactor().redact(text)
    assert secret not in redacted.text
    assert marker(kind) in redacted.text
    assert redacted.counts == {kind: 1}
    assert redacted.text == context.format(marker(kind))  # only the secret goes: names, headers, URLs stay


@pytest.mark.parametrize(
    "text",
    [
        "def login(password: str) -> bool:",
        "connect(password=password, user=args.user)",
        "password = os.environ['DB_PASSWORD']",
        "commit 0123456789abcdef0123456789abcdef01234567 (HEAD -> main)",
        '{"input_tokens": 123456789012345678, "output_tokens": 12}',
        "the secret of a good test is a small fixture",
        "tokenizer_config = load('bert-base-uncased-vocab')",
        "sk-learn is not a key; neither is ask-for-help",
        "pip install scikit-learn==1.5.0 && pytest -k test_password_reset",
        "Authorization header is missing",
        "https://github.com/o/r/blob/main/src/auth/token_store.py#L10",
    ],
)
def test_ordinary_text_and_code_are_left_alone(text: str) -> None:
    redacted = Redactor().redact(text)
    assert redacted.text == text and redacted.total == 0


def test_a_secret_inside_json_keeps_the_json_valid() -> None:
    arguments = json.dumps(
        {
            "command": 'curl -H "Authorization: Bearer abcdEFGH1234ijklMNOP5678" -d '
            '\'{"password": "hunter22"}\' https://x',
            "key": "sk-" + "a" * 24 + "Z9",
        }
    )
    redacted = Redactor().redact(arguments)
    parsed = json.loads(redacted.text)
    assert "abcdEFGH1234" not in redacted.text and "hunter22" not in redacted.text
    assert parsed["key"] == marker("openai_key") and redacted.total == 3


def test_an_unterminated_private_key_is_redacted_to_the_end() -> None:
    text = "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx4f\nQk9vYmFy"
    assert Redactor().redact(text).text == "key:\n" + marker("private_key")


def test_patterns_added_in_configuration_run_after_the_built_in_ones() -> None:
    redactor = Redactor(
        [SecretPattern("internal_token", r"itk_[0-9a-f]{8}"), SecretPattern("ticket", r"ticket=(?P<secret>\d+)")]
    )
    redacted = redactor.redact("itk_0badc0de and ticket=4411 and sk-" + "b" * 30)
    assert redacted.text == f"{marker('internal_token')} and ticket={marker('ticket')} and {marker('openai_key')}"
    assert redacted.counts == {"internal_token": 1, "ticket": 1, "openai_key": 1}


@pytest.mark.parametrize(("kind", "regex"), [("Bad Kind", "x"), ("ok", "("), ("empty", "a*")])
def test_invalid_configured_patterns_are_refused(kind: str, regex: str) -> None:
    with pytest.raises(vcs.InvalidArgument) as caught:
        Redactor([SecretPattern(kind, regex)])
    assert caught.value.reason == "INVALID_REDACTION_PATTERN"


def test_a_disabled_redactor_changes_nothing() -> None:
    text = "OPENAI_API_KEY=sk-" + "c" * 40
    assert Redactor(enabled=False).redact(text).text == text


def test_a_step_gets_its_fields_and_metadata_redacted_and_the_count() -> None:
    step = vcs.StepInput(
        thought="use the key sk-" + "d" * 30,
        action="bash",
        arguments_json=json.dumps({"cmd": "export GITHUB_TOKEN=ghp_" + "e" * 36}),
        observation="AKIAQ7X2M9T4K8W3N6P5\nok",
        metadata={"env": "password=hunter22", "model": "gpt-5"},
    )
    redacted = Redactor().redact_step(step)
    assert redacted.thought == "use the key " + marker("openai_key")
    assert json.loads(redacted.arguments_json)["cmd"] == "export GITHUB_TOKEN=" + marker("github_token")
    assert redacted.observation == marker("aws_access_key") + "\nok"
    assert redacted.metadata == {
        "env": "password=" + marker("password"),
        "model": "gpt-5",
        REDACTIONS_KEY: "4",
        REDACTION_KINDS_KEY: "aws_access_key,github_token,openai_key,password",
    }
    assert Redactor().redact_step(redacted) == redacted  # idempotent: markers are not secrets
    clean = vcs.StepInput(thought="nothing to hide", metadata={"k": "v"})
    assert Redactor().redact_step(clean) is clean


# -- properties -----------------------------------------------------------------

# Words of ordinary prose and code (no secret-like names), numbers, commit ids, paths.
_WORDS = st.one_of(
    st.sampled_from(
        [
            "the",
            "fix",
            "test",
            "def",
            "return",
            "import",
            "os",
            "path",
            "user",
            "name",
            "value",
            "x",
            "count",
            "line",
            "error",
            "Traceback",
            "main",
            "HEAD",
            "src/app.py",
            "None",
            "True",
            "self",
            "model",
            "step",
            "diff",
            "--verbose",
            "-n",
            "2",
            "http://localhost:8000/api",
            "éàü",
            "日本",
        ]
    ),
    st.from_regex(r"[a-z]{1,12}", fullmatch=True),
    st.from_regex(r"[0-9]{1,20}", fullmatch=True),
    st.from_regex(r"[0-9a-f]{40}", fullmatch=True),
)
_SEPARATORS = st.sampled_from([" ", "\n", ", ", " = ", "=", ": ", "(", ")", ".", '"', "'", "/", "\t", "; "])
BENIGN = st.lists(st.tuples(_WORDS, _SEPARATORS), max_size=40).map(lambda parts: "".join(w + s for w, s in parts))

# Secrets in each provider's shape, drawn at random.
SECRETS = st.one_of(
    st.from_regex(r"sk-(proj-)?[A-Za-z0-9]{32,48}", fullmatch=True).map(lambda s: ("openai_key", s)),
    st.from_regex(r"sk-ant-api03-[A-Za-z0-9_\-]{40,90}", fullmatch=True).map(lambda s: ("anthropic_key", s)),
    st.from_regex(r"AKIA[A-Z0-9]{16}", fullmatch=True).map(lambda s: ("aws_access_key", s)),
    st.from_regex(r"gh[pousr]_[A-Za-z0-9]{36}", fullmatch=True).map(lambda s: ("github_token", s)),
    st.from_regex(r"github_pat_[A-Za-z0-9_]{82}", fullmatch=True).map(lambda s: ("github_token", s)),
    st.from_regex(r"AIza[0-9A-Za-z_\-]{35}", fullmatch=True).map(lambda s: ("google_api_key", s)),
    st.from_regex(r"xox[bp]-[0-9]{10,13}-[A-Za-z0-9]{20,32}", fullmatch=True).map(lambda s: ("slack_token", s)),
)
_CONTEXTS = st.sampled_from(["{}", "KEY={}", "'{}'", '{{"api": "{}"}}', "Authorization: {}", "see {}.", "({})"])


@settings(max_examples=300, deadline=None)
@given(text=BENIGN)
def test_text_without_secrets_is_unchanged(text: str) -> None:
    assert Redactor().redact(text) == vcs.Redacted(text, {})


@settings(max_examples=300, deadline=None)
@given(before=BENIGN, after=BENIGN, planted=SECRETS, context=_CONTEXTS)
def test_no_planted_secret_survives(before: str, after: str, planted: tuple[str, str], context: str) -> None:
    kind, secret = planted
    text = before + " " + context.format(secret) + " " + after
    redacted = Redactor().redact(text)
    assert secret not in redacted.text
    assert marker(kind) in redacted.text
    assert redacted.counts.get(kind, 0) >= 1


# -- the store's write paths ------------------------------------------------------

OPENAI = "sk-" + "f1G2h3J4k5L6" * 3
AWS = "AKIAQ7X2M9T4K8W3N6P5"


def test_store_redacts_recorded_steps_commit_steps_tasks_and_outcomes(store: vcs.Store, data_dir: Path) -> None:
    store.create_repository("r", ALICE)
    session = store.create_session("r", ALICE, task=f"deploy with {OPENAI}", metadata={"env": f"AWS_KEY={AWS}"})
    assert session.task == "deploy with " + marker("openai_key")
    assert session.metadata == {
        "env": "AWS_KEY=" + marker("aws_access_key"),
        REDACTIONS_KEY: "2",
        REDACTION_KINDS_KEY: "aws_access_key,openai_key",
    }
    step = store.record_step("r", session.session_id, vcs.StepInput(action="bash", observation=f"key={OPENAI}"), ALICE)
    assert step.input.observation == "key=" + marker("openai_key") and step.input.metadata[REDACTIONS_KEY] == "1"
    result = store.commit(
        "r",
        session.branch_id,
        [vcs.PutFile("a.txt", b"a\n")],
        "add a",
        ALICE,
        session_id=session.session_id,
        step=vcs.StepInput(action="edit", thought=f"password={OPENAI[:10]}"),
    )
    assert result.step is not None and result.step.input.thought == "password=" + marker("password")
    ended = store.end_session("r", session.session_id, vcs.SessionStatus.SUCCEEDED, ALICE, outcome=f"used {AWS}")
    assert ended.outcome == "used " + marker("aws_access_key")
    # Nothing in git holds the secrets: every object of the repository, read with git itself.
    objects = subprocess.run(
        ["git", "--git-dir", str(repo_path(data_dir, "r")), "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True,
        check=True,
        env=GIT_ENV,
    ).stdout
    assert OPENAI.encode() not in objects and AWS.encode() not in objects and OPENAI[:10].encode() not in objects
    assert b"[REDACTED:openai_key]" in objects


def test_a_store_without_redaction_keeps_text_as_given(data_dir: Path) -> None:
    store = vcs.Store(data_dir, redactor=Redactor(enabled=False))
    store.create_repository("r", ALICE)
    session = store.create_session("r", ALICE, task=OPENAI)
    assert session.task == OPENAI and REDACTIONS_KEY not in session.metadata
