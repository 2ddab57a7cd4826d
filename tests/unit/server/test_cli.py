"""The openproctor command: what --help promises is what the commands do."""

from __future__ import annotations

import argparse
from pathlib import Path

import jwt
import pytest

from openproctor.server.cli import build_parser, main
from openproctor.server.security.keys import Keyring, load_master_keys
from openproctor.server.storage import Storage


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENPROCTOR_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("OPENPROCTOR_SECRET_FILE", str(tmp_path / "secret.key"))
    monkeypatch.delenv("OPENPROCTOR_SECRET_KEYS", raising=False)
    return tmp_path


def test_help_and_docs_list_every_command(capsys):
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert {"serve", "reviewer", "webhook", "lti", "verify", "purge"} <= set(commands.choices)
    with pytest.raises(SystemExit):
        parser.parse_args(["--help"])
    out = capsys.readouterr().out
    docs = (Path(__file__).parents[3] / "docs" / "server.md").read_text()
    cli_block = docs.split("## CLI", 1)[1].split("```", 2)[1]
    for command in commands.choices:
        assert command in out
        assert f"openproctor {command}" in cli_block, f"docs/server.md lacks {command}"


def test_integration_lifecycle(env, capsys):
    assert (
        main(
            [
                "integration",
                "add",
                "moodle",
                "--institution",
                "uni-a",
                "--origin",
                "https://moodle.uni-a.edu",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    secret = out.strip().splitlines()[-1]
    assert len(secret) >= 32
    assert main(["integration", "list"]) == 0
    listing = capsys.readouterr().out
    assert "moodle" in listing and "https://moodle.uni-a.edu" in listing
    assert secret not in listing
    store = Storage(f"sqlite:///{env / 'cli.sqlite3'}")
    keyring = Keyring(tuple(load_master_keys((), env / "secret.key")))
    assert keyring.decrypt(store.integrations.get("moodle").secret_enc) == secret

    assert (
        main(["token", "moodle", "--user-id", "u1", "--exam-id", "E1", "--session-id", "s1"]) == 0
    )
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, secret, algorithms=["HS256"])
    assert claims["userId"] == "u1" and claims["examId"] == "E1" and claims["sessionId"] == "s1"

    assert main(["integration", "remove", "moodle"]) == 0
    assert main(["integration", "remove", "moodle"]) == 1
    assert "no integration named 'moodle'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--origin", "https://lms.edu/path"], "scheme and host"),
        (["--secret", "short"], "at least 32 characters"),
    ],
)
def test_add_validates_input(env, args, message):
    with pytest.raises(SystemExit) as info:
        main(["integration", "add", "x", "--institution", "i", *args])
    assert message in str(info.value)


def test_duplicate_integration_is_a_clear_error(env, capsys):
    main(["integration", "add", "x", "--institution", "i"])
    assert main(["integration", "add", "x", "--institution", "i"]) == 1
    assert "already exists" in capsys.readouterr().err


def test_token_for_unknown_integration(env):
    with pytest.raises(SystemExit, match="no integration named 'ghost'"):
        main(["token", "ghost", "--user-id", "u", "--exam-id", "e", "--session-id", "s"])


def test_purge_and_migrate(env, capsys):
    assert main(["migrate"]) == 0
    assert main(["purge"]) == 0
    assert "purged the event logs of 0 session(s)" in capsys.readouterr().out


def test_weak_master_key_is_refused(env, monkeypatch, capsys):
    monkeypatch.setenv("OPENPROCTOR_SECRET_KEYS", "too-short")
    assert main(["integration", "add", "x", "--institution", "i"]) == 1
    assert "at least 32 characters" in capsys.readouterr().err


def test_lti_platform_lifecycle(env, capsys):
    assert main(["integration", "add", "canvas", "--institution", "uni-a"]) == 0
    base = ["lti", "add", "--integration", "canvas", "--issuer", "https://canvas.uni-a.edu"]
    base += ["--client-id", "10000000001", "--deployment-id", "d1", "--deployment-id", "d2"]
    base += ["--auth-url", "https://canvas.uni-a.edu/api/lti/authorize_redirect"]
    with pytest.raises(SystemExit, match="--jwks-url: give exactly one"):
        main(base)
    with pytest.raises(SystemExit, match="--jwks-url: 'ftp://x' must be an http"):
        main([*base, "--jwks-url", "ftp://x"])
    with pytest.raises(SystemExit, match="RSA public key"):
        main([*base, "--public-jwk", '{"kty": "RSA", "d": "secret"}'])
    assert main([*base, "--jwks-url", "https://canvas.uni-a.edu/api/lti/security/jwks"]) == 0
    capsys.readouterr()
    assert main([*base, "--jwks-url", "https://canvas.uni-a.edu/jwks"]) == 1
    assert "this integration already has the platform" in capsys.readouterr().err
    assert main(["lti", "list"]) == 0
    listing = capsys.readouterr().out
    assert "client_id=10000000001" in listing and "deployments=d1,d2" in listing
    assert main(["lti", "rotate-key"]) == 0
    assert "new tool signing key" in capsys.readouterr().out
    remove = ["lti", "remove", "--integration", "canvas", "--issuer", "https://canvas.uni-a.edu"]
    assert main([*remove, "--client-id", "x"]) == 1
    assert main([*remove, "--client-id", "10000000001"]) == 0
    assert main(["lti", "list"]) == 0
    assert "no LTI platforms" in capsys.readouterr().out
