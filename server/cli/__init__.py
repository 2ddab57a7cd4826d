"""The ``openproctor`` command: serve, migrate, integration add|list|rotate-secret|remove,
lti add|list|remove|rotate-key, reviewer add|list|remove, webhook add|list|remove, token, purge,
rekey, verify."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..errors import OpenproctorError
from ..security.keys import Keyring, load_master_keys
from ..security.tokens import mint_start_token
from ..settings import DEFAULT_DATABASE, Settings
from ..storage import Storage

ORIGIN = re.compile(r"https?://[A-Za-z0-9.\-]+(:\d{1,5})?")


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(database_url=args.database, secret_file=args.secret_file)


def _store(args: argparse.Namespace) -> Storage:
    store = Storage(_settings(args).database_url)
    store.migrate()
    return store


def _keyring(args: argparse.Namespace) -> Keyring:
    settings = _settings(args)
    return Keyring(tuple(load_master_keys(settings.secret_keys, settings.secret_file)))


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = _settings(args)
    public = (args.public_origin or settings.public_origin or "").rstrip("/")
    if public and not ORIGIN.fullmatch(public):
        raise SystemExit(
            f"error: --public-origin {public!r} must look like https://proctor.uni-a.edu "
            "(scheme and host, optional port, no path)"
        )
    if not public and not args.demo:
        raise SystemExit(
            "error: give the server's public origin (--public-origin https://proctor.uni-a.edu "
            "or OPENPROCTOR_PUBLIC_ORIGIN): links, LTI tool URLs and the evidence attestation "
            "are built from it, never from a request's Host header (only --demo may go without)"
        )
    if public:
        os.environ["OPENPROCTOR_PUBLIC_ORIGIN"] = public
    with closing(Storage(settings.database_url)) as store:
        store.migrate()
        where = repr(store)
    load_master_keys(settings.secret_keys, settings.secret_file)  # create the key file once
    os.environ["OPENPROCTOR_DATABASE_URL"] = settings.database_url
    os.environ["OPENPROCTOR_SECRET_FILE"] = str(settings.secret_file)
    if args.bundle_dir is not None:
        os.environ["OPENPROCTOR_BUNDLE_DIR"] = str(args.bundle_dir)
    if args.demo:
        os.environ["OPENPROCTOR_DEMO"] = "1"
    print(
        f"openproctor serving on http://{args.host}:{args.port} "
        f"(database {where}, {args.workers} worker(s))",
        flush=True,
    )
    os.environ["OPENPROCTOR_LOG_FORMAT"] = args.log_format
    os.environ["OPENPROCTOR_LOG_LEVEL"] = args.log_level
    with _metrics_shared_by(args.workers):
        uvicorn.run(
            "openproctor.server.app:app_from_env",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_level=args.log_level,
            proxy_headers=args.proxy_headers,
            limit_concurrency=args.limit_concurrency,
            timeout_keep_alive=args.timeout_keep_alive,
        )
    return 0


@contextlib.contextmanager
def _metrics_shared_by(workers: int) -> Iterator[None]:
    """Several workers answer /metrics from one port: let them share their values through
    files (prometheus-client's multiprocess mode), in a fresh directory removed at exit."""
    if workers <= 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        yield
        return
    with tempfile.TemporaryDirectory(prefix="openproctor-metrics-") as directory:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        try:
            yield
        finally:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]


def cmd_migrate(args: argparse.Namespace) -> int:
    with closing(_store(args)) as store:
        print(f"schema up to date ({store!r})")
    return 0


def cmd_integration_add(args: argparse.Namespace) -> int:
    for origin in args.origin:
        if not ORIGIN.fullmatch(origin):
            raise SystemExit(
                f"error: --origin {origin!r} must look like https://lms.example.edu "
                "(scheme and host, optional port, no path)"
            )
    if args.secret is not None and len(args.secret) < 32:
        raise SystemExit("error: --secret must be at least 32 characters (HS256 key)")
    secret = args.secret or secrets.token_urlsafe(32)
    keyring = _keyring(args)
    with closing(_store(args)) as store:
        store.integrations.add(
            args.name,
            args.institution,
            keyring.encrypt(secret),
            args.origin,
            institution_name=args.institution_name,
        )
    print(f"integration {args.name!r} added for institution {args.institution!r}")
    print(f"allowed origins: {', '.join(args.origin) or '(none: same-origin only)'}")
    if args.secret is None:
        print("JWT secret (HS256; give it to the LMS backend; it is not shown again):")
        print(secret)
    return 0


def cmd_integration_list(args: argparse.Namespace) -> int:
    with closing(_store(args)) as store:
        rows = store.integrations.all()
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": i.name,
                        "institution": i.institution_id,
                        "allowed_origins": list(i.allowed_origins),
                    }
                    for i in rows
                ],
                indent=2,
            )
        )
        return 0
    if not rows:
        print("no integrations (add one with: openproctor integration add NAME --institution ID)")
    for i in rows:
        created = datetime.fromtimestamp(i.created_at, UTC).strftime("%Y-%m-%d")
        print(
            f"{i.name}\tinstitution={i.institution_id}\t"
            f"origins={','.join(i.allowed_origins) or '-'}\tcreated={created}"
        )
    return 0


def cmd_integration_remove(args: argparse.Namespace) -> int:
    with closing(_store(args)) as store:
        store.integrations.remove(args.name)
    print(f"integration {args.name!r} removed")
    return 0


def cmd_integration_rotate_secret(args: argparse.Namespace) -> int:
    if not 0 <= args.grace_hours <= 24 * 30:
        raise SystemExit("error: --grace-hours must be from 0 to 720")
    if args.secret is not None and len(args.secret) < 32:
        raise SystemExit("error: --secret must be at least 32 characters (HS256 key)")
    secret = args.secret or secrets.token_urlsafe(32)
    keyring = _keyring(args)
    with closing(_store(args)) as store:
        store.integrations.rotate_secret(
            args.name, keyring.encrypt(secret), args.grace_hours * 3600, actor="cli"
        )
    until = datetime.now(UTC) + timedelta(hours=args.grace_hours)
    print(f"integration {args.name!r} has a new secret; the previous one is accepted until ")
    print(
        f"{until:%Y-%m-%d %H:%M} UTC ({args.grace_hours:g} h): switch the LMS backend before then"
    )
    if args.secret is None:
        print("new JWT secret (HS256; it is not shown again):")
        print(secret)
    return 0


def cmd_rekey(args: argparse.Namespace) -> int:
    keyring = _keyring(args)
    with closing(_store(args)) as store:
        counts = store.reencrypt(keyring.reencrypt, actor="cli")
    print(
        f"re-encrypted {counts['integrations']} integration secret(s), {counts['webhooks']} "
        f"webhook secret(s) and {counts['lti_tool_keys']} tool key(s) under the newest master key"
    )
    if len(keyring.masters) > 1:
        print(
            "the older master key(s) are still needed to verify session tokens and keys made "
            "before the rotation: drop them once those sessions have finished (docs/server.md)"
        )
    return 0


def cmd_lti_add(args: argparse.Namespace) -> int:
    from ..lti.registration import check_platform_settings, login_path

    public_jwk = args.public_jwk
    if public_jwk is not None and Path(public_jwk).is_file():
        public_jwk = Path(public_jwk).read_text()
    try:
        values = check_platform_settings(
            issuer=args.issuer,
            client_id=args.client_id,
            deployment_ids=args.deployment_id,
            auth_url=args.auth_url,
            jwks_url=args.jwks_url,
            public_jwk=public_jwk,
            token_url=args.token_url,
            exam_url=args.exam_url,
        )
    except OpenproctorError as exc:
        flag = "--" + str(exc.extra["field"]).replace("_", "-")
        raise SystemExit(f"error: {flag}: {exc.message}") from None
    with closing(_store(args)) as store:
        integration = store.integrations.get(args.integration)
        if integration is None:
            raise SystemExit(
                f"error: no integration named {args.integration!r} "
                "(create it first: openproctor integration add NAME --institution ID)"
            )
        registration = store.lti.add_registration(
            integration.id, **values, allow_policy_override=not args.no_policy_override
        )
    print(
        f"platform {args.issuer!r} (client id {args.client_id!r}) registered for integration "
        f"{args.integration!r}; deployments: {', '.join(args.deployment_id)}"
    )
    base = _settings(args).public_origin or "https://THIS-SERVER"
    print(f"its OIDC login URL (give it to the platform): {base}{login_path(registration.id)}")
    print("the other tool URLs: GET /lti/config.json on this server lists them")
    return 0


def cmd_lti_list(args: argparse.Namespace) -> int:

    with closing(_store(args)) as store:
        names = {i.id: i.name for i in store.integrations.all()}
        rows = store.lti.list_registrations()
    if not rows:
        print("no LTI platforms (add one with: openproctor lti add ...)")
    for r in rows:
        keys = r.jwks_url or "pasted public JWK"
        print(
            f"{r.id}\t{r.issuer}\tclient_id={r.client_id}\t"
            f"integration={names.get(r.integration_id)}\t"
            f"deployments={','.join(r.deployment_ids)}\tkeys={keys}\t"
            f"policy_override={'yes' if r.allow_policy_override else 'no'}"
        )
    return 0


def cmd_lti_remove(args: argparse.Namespace) -> int:

    with closing(_store(args)) as store:
        integration = store.integrations.get(args.integration)
        if integration is None:
            raise SystemExit(f"error: no integration named {args.integration!r}")
        store.lti.remove_registration(args.issuer, args.client_id, integration.id)
    print(f"platform {args.issuer!r} (client id {args.client_id!r}) removed")
    return 0


def cmd_lti_rotate_key(args: argparse.Namespace) -> int:
    from ..lti.keys import KEY_GRACE_SECONDS, ToolKeys

    keyring = _keyring(args)
    with closing(_store(args)) as store:
        kid = ToolKeys(store.lti, keyring).rotate()
    print(
        f"new tool signing key {kid}; the previous key stays published at /lti/jwks for "
        f"{KEY_GRACE_SECONDS // 86400} days"
    )
    return 0


def cmd_reviewer_add(args: argparse.Namespace) -> int:
    import getpass

    from ..reviewers import ReviewerStore

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.username}: ")
        if getpass.getpass("again: ") != password:
            raise SystemExit("error: the passwords differ")
    with closing(_store(args)) as store:
        ReviewerStore(store).add(args.username, args.institution, password, args.role)
    print(f"{args.role} {args.username!r} added for institution {args.institution!r}")
    return 0


def cmd_reviewer_list(args: argparse.Namespace) -> int:
    from ..reviewers import ReviewerStore

    with closing(_store(args)) as store:
        rows = ReviewerStore(store).list()
    if not rows:
        print("no reviewers (add one with: openproctor reviewer add NAME --institution ID)")
    for row in rows:
        print(f"{row['username']}\tinstitution={row['institution_id']}\trole={row['role']}")
    return 0


def cmd_reviewer_remove(args: argparse.Namespace) -> int:
    from ..reviewers import ReviewerStore

    with closing(_store(args)) as store:
        ReviewerStore(store).remove(args.username)
    print(f"reviewer {args.username!r} removed")
    return 0


def cmd_webhook_add(args: argparse.Namespace) -> int:
    from ..webhooks import WebhookStore

    with closing(_store(args)) as store:
        webhook, secret = WebhookStore(store, _keyring(args)).add(
            args.institution, args.url, args.exam, created_by="cli"
        )
    scope = f"exam {args.exam!r}" if args.exam else "every exam"
    print(f"webhook {webhook.id} added: {webhook.url} ({scope} of {args.institution!r})")
    print("signing secret (give it to the receiver; it is not shown again):")
    print(secret)
    return 0


def cmd_webhook_list(args: argparse.Namespace) -> int:
    from ..webhooks import WebhookStore

    with closing(_store(args)) as store:
        rows = WebhookStore(store, _keyring(args)).active(args.institution)
    if not rows:
        print("no webhooks (add one with: openproctor webhook add URL --institution ID)")
    for w in rows:
        print(
            f"{w.id}\t{w.url}\tinstitution={w.institution_id}\t"
            f"exam={w.exam_id or '*'}\tby={w.created_by}"
        )
    return 0


def cmd_webhook_remove(args: argparse.Namespace) -> int:
    from ..webhooks import WebhookStore

    with closing(_store(args)) as store:
        WebhookStore(store, _keyring(args)).remove(None, args.id)
    print(f"webhook {args.id} removed (its delivery log is kept)")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    keyring = _keyring(args)
    with closing(_store(args)) as store:
        integration = store.integrations.get(args.integration)
    if integration is None:
        raise SystemExit(f"error: no integration named {args.integration!r}")
    print(
        mint_start_token(
            keyring.decrypt(integration.secret_enc),
            user_id=args.user_id,
            exam_id=args.exam_id,
            session_id=args.session_id,
            exam_name=args.exam_name,
            duration=args.duration,
            valid_minutes=args.valid_minutes,
        )
    )
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    with closing(_store(args)) as store:
        result = store.purge()
    print(
        f"purged the event logs of {result['sessions']} session(s) past their retention "
        f"({result['events']} event(s) deleted; session summaries kept)"
    )
    return 0


#: Exit codes of ``openproctor verify`` (docs/server.md).
VERIFIED, NOT_VERIFIED, IDENTITY_UNCHECKED = 0, 1, 3


def cmd_verify(args: argparse.Namespace) -> int:
    from ..evidence import verify_bundle

    def load(path: Path, what: str) -> object:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SystemExit(f"error: cannot read the {what} {str(path)!r}: {exc}") from None

    bundle = load(args.bundle, "bundle")
    pinned = load(args.jwks, "key set") if args.jwks is not None else None
    if args.server is not None:
        pinned = _server_jwks(args.server)
    if pinned is not None and not isinstance(pinned, dict):
        raise SystemExit('error: --jwks must hold a JSON key set ({"keys": [...]})')
    report = verify_bundle(bundle, pinned)
    print("\n".join(report.lines()))
    if not report.ok:
        print("NOT VERIFIED")
        return NOT_VERIFIED
    if not report.identity_checked:
        print("CONSISTENT, BUT NOT SHOWN TO BE THE SERVER'S (no pinned key: see above)")
        return IDENTITY_UNCHECKED
    print("VERIFIED")
    return VERIFIED


def _server_jwks(server: str) -> object:
    """The key set a server publishes at /lti/jwks (fetched by the one outbound client; the
    user names the server, so loopback and private addresses are allowed here)."""
    from ..security.outbound import OutboundError, OutboundGuard

    url = server.rstrip("/") + "/lti/jwks"
    try:
        response = OutboundGuard(allow_private=True).request("GET", url)
    except OutboundError as exc:
        raise SystemExit(f"error: cannot fetch {url}: {exc.reason}") from None
    if response.status_code != 200:
        raise SystemExit(f"error: {url} answered HTTP {response.status_code}")
    try:
        return json.loads(response.content)
    except ValueError:
        raise SystemExit(f"error: {url} did not answer with a JSON key set") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openproctor", description="openproctor server and administration."
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--database",
        default=None,
        metavar="URL",
        help=f"database URL (sqlite:///FILE or postgresql://...); default: "
        f"$OPENPROCTOR_DATABASE_URL or {DEFAULT_DATABASE}",
    )
    common.add_argument(
        "--secret-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="file holding the master key(s), created on first use; default: "
        "$OPENPROCTOR_SECRET_FILE or ./openproctor-secret.key "
        "($OPENPROCTOR_SECRET_KEYS overrides it)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", parents=[common], help="run the server (uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers", type=int, default=1, help="server processes (use PostgreSQL for more than one)"
    )
    serve.add_argument("--log-level", default="info")
    serve.add_argument(
        "--log-format",
        choices=["text", "json"],
        default="text",
        help="openproctor's own log lines: plain text or one JSON object a line",
    )
    serve.add_argument(
        "--proxy-headers", action="store_true", help="trust X-Forwarded-* from a reverse proxy"
    )
    serve.add_argument(
        "--limit-concurrency",
        type=int,
        default=None,
        metavar="N",
        help="answer 503 beyond N open connections and requests per process (default: no limit)",
    )
    serve.add_argument(
        "--timeout-keep-alive",
        type=int,
        default=5,
        metavar="SECONDS",
        help="close idle keep-alive connections after this long (default 5)",
    )
    serve.add_argument(
        "--public-origin",
        default=None,
        metavar="URL",
        help="this server's public origin, e.g. https://proctor.uni-a.edu (required unless "
        "--demo; default: $OPENPROCTOR_PUBLIC_ORIGIN)",
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="also serve the demo exam at /demo (registers a 'demo' integration)",
    )
    serve.add_argument(
        "--bundle-dir",
        type=Path,
        default=None,
        help="the built SDK bundle (default: $OPENPROCTOR_BUNDLE_DIR, else ./build/sdk when built, "
        "else the bundle inside the installed wheel)",
    )
    serve.set_defaults(func=cmd_serve)

    sub.add_parser(
        "migrate", parents=[common], help="create or upgrade the database schema"
    ).set_defaults(func=cmd_migrate)

    integration = sub.add_parser("integration", help="manage LMS integrations")
    isub = integration.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = isub.add_parser("add", parents=[common], help="register an integration")
    add.add_argument("name")
    add.add_argument("--institution", required=True, help="institution id (created if new)")
    add.add_argument("--institution-name", default=None)
    add.add_argument(
        "--origin",
        action="append",
        default=[],
        help="an LMS origin allowed to call the API from a browser (repeatable)",
    )
    add.add_argument(
        "--secret",
        default=None,
        help="the HS256 secret (at least 32 characters); generated if omitted",
    )
    add.set_defaults(func=cmd_integration_add)
    lst = isub.add_parser("list", parents=[common], help="list integrations (no secrets)")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_integration_list)
    rot = isub.add_parser(
        "rotate-secret",
        parents=[common],
        help="give an integration a new secret; the old one stays valid for a grace period",
    )
    rot.add_argument("name")
    rot.add_argument(
        "--grace-hours",
        type=float,
        default=72,
        help="how long the previous secret is still accepted (default 72, at most 720)",
    )
    rot.add_argument("--secret", default=None, help="the new secret (generated if omitted)")
    rot.set_defaults(func=cmd_integration_rotate_secret)
    rm = isub.add_parser("remove", parents=[common], help="remove an integration without sessions")
    rm.add_argument("name")
    rm.set_defaults(func=cmd_integration_remove)

    token = sub.add_parser(
        "token",
        parents=[common],
        help="mint a test integration JWT (what an LMS backend would sign)",
    )
    token.add_argument("integration")
    token.add_argument("--user-id", required=True)
    token.add_argument("--exam-id", required=True)
    token.add_argument("--session-id", required=True)
    token.add_argument("--exam-name", default="Demo exam")
    token.add_argument("--duration", type=int, default=60, help="exam minutes")
    token.add_argument("--valid-minutes", type=int, default=15, help="JWT lifetime")
    token.set_defaults(func=cmd_token)

    reviewer = sub.add_parser("reviewer", help="manage dashboard accounts (per institution)")
    rsub = reviewer.add_subparsers(dest="action", required=True, metavar="ACTION")
    radd = rsub.add_parser("add", parents=[common], help="add a reviewer or admin account")
    radd.add_argument("username")
    radd.add_argument("--institution", required=True, help="the institution id it may review")
    radd.add_argument("--role", choices=["reviewer", "admin"], default="reviewer")
    radd.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input (else: prompt)",
    )
    radd.set_defaults(func=cmd_reviewer_add)
    rsub.add_parser("list", parents=[common], help="list accounts (no hashes)").set_defaults(
        func=cmd_reviewer_list
    )
    rrm = rsub.add_parser("remove", parents=[common], help="remove an account")
    rrm.add_argument("username")
    rrm.set_defaults(func=cmd_reviewer_remove)

    webhook = sub.add_parser("webhook", help="manage alert webhooks (sessions flagged)")
    wsub = webhook.add_subparsers(dest="action", required=True, metavar="ACTION")
    wadd = wsub.add_parser(
        "add", parents=[common], help="POST an alert here when a session is flagged"
    )
    wadd.add_argument("url", help="the receiver (http or https)")
    wadd.add_argument("--institution", required=True, help="the institution whose sessions alert")
    wadd.add_argument("--exam", default=None, help="only this exam (default: every exam)")
    wadd.set_defaults(func=cmd_webhook_add)
    wlist = wsub.add_parser("list", parents=[common], help="list active webhooks (no secrets)")
    wlist.add_argument("--institution", default=None, help="only this institution")
    wlist.set_defaults(func=cmd_webhook_list)
    wrm = wsub.add_parser("remove", parents=[common], help="stop a webhook (its log is kept)")
    wrm.add_argument("id", type=int)
    wrm.set_defaults(func=cmd_webhook_remove)

    lti = sub.add_parser("lti", help="manage LTI 1.3 platform registrations and the tool key")
    lsub = lti.add_subparsers(dest="action", required=True, metavar="ACTION")
    ladd = lsub.add_parser("add", parents=[common], help="register an LTI 1.3 platform")
    ladd.add_argument(
        "--integration", required=True, help="the integration (institution) it serves"
    )
    ladd.add_argument("--issuer", required=True, help="the platform's issuer (iss)")
    ladd.add_argument("--client-id", required=True, help="this tool's client id on the platform")
    ladd.add_argument(
        "--deployment-id", action="append", required=True, help="a deployment id (repeatable)"
    )
    ladd.add_argument("--auth-url", required=True, help="the platform's OIDC authorisation URL")
    ladd.add_argument("--jwks-url", default=None, help="the platform's public key set URL")
    ladd.add_argument(
        "--public-jwk", default=None, help="or the platform's public JWK (JSON, or a file)"
    )
    ladd.add_argument("--token-url", default=None, help="the platform's OAuth2 token URL")
    ladd.add_argument(
        "--exam-url",
        default=None,
        help="where learners go after a plain resource-link launch (custom exam_url overrides)",
    )
    ladd.add_argument(
        "--no-policy-override",
        action="store_true",
        help="ignore policy settings sent as LTI custom parameters",
    )
    ladd.set_defaults(func=cmd_lti_add)
    llist = lsub.add_parser("list", parents=[common], help="list registered platforms")
    llist.set_defaults(func=cmd_lti_list)
    lrm = lsub.add_parser("remove", parents=[common], help="remove a platform registration")
    lrm.add_argument("--integration", required=True, help="the integration it was added for")
    lrm.add_argument("--issuer", required=True)
    lrm.add_argument("--client-id", required=True)
    lrm.set_defaults(func=cmd_lti_remove)
    lrot = lsub.add_parser(
        "rotate-key", parents=[common], help="create a new tool signing key (old one in grace)"
    )
    lrot.set_defaults(func=cmd_lti_rotate_key)

    verify = sub.add_parser(
        "verify",
        help="check a student's evidence bundle offline (chain, score, server attestation)",
        description="Check an evidence bundle (downloaded from a student's record page): every "
        "MAC and link of the signed log, completeness, the score recomputed with "
        "openproctor.core, and the server's attestation over every field of the bundle, "
        "against the server's key set (--server URL fetches it; --jwks FILE reads a saved "
        "copy, for checking offline). Exit codes: 0 verified against the server's key; 1 a "
        "check failed; 3 consistent, but no key was pinned, so the server's identity was not "
        "checked (a made-up bundle with its own key would pass that far).",
    )
    verify.add_argument("bundle", type=Path, help="the evidence bundle (JSON)")
    pin = verify.add_mutually_exclusive_group()
    pin.add_argument(
        "--jwks",
        type=Path,
        default=None,
        help="the server's key set (saved from its /lti/jwks) to check the attestation against",
    )
    pin.add_argument(
        "--server",
        default=None,
        metavar="URL",
        help="the server the bundle came from (e.g. https://proctor.uni-a.edu): its /lti/jwks "
        "is fetched and the attestation checked against it",
    )
    verify.set_defaults(func=cmd_verify)

    sub.add_parser(
        "purge", parents=[common], help="delete event logs past their exam's log_retention_days"
    ).set_defaults(func=cmd_purge)
    sub.add_parser(
        "rekey",
        parents=[common],
        help="re-encrypt every stored secret under the newest master key (after adding one)",
    ).set_defaults(func=cmd_rekey)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except OpenproctorError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
