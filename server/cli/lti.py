"""LTI 1.3 platforms and the tool's key:
``openproctor lti add|list|remove|register-url|rotate-key``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..errors import OpenproctorError
from ..services import opened
from .common import settings_of


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
    with opened(settings_of(args)) as services:
        store = services.store
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
    base = settings_of(args).public_origin or "https://THIS-SERVER"
    print(f"its OIDC login URL (give it to the platform): {base}{login_path(registration.id)}")
    print("the other tool URLs: GET /lti/config.json on this server lists them")
    return 0


def cmd_lti_list(args: argparse.Namespace) -> int:

    with opened(settings_of(args)) as services:
        store = services.store
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

    with opened(settings_of(args)) as services:
        store = services.store
        integration = store.integrations.get(args.integration)
        if integration is None:
            raise SystemExit(f"error: no integration named {args.integration!r}")
        store.lti.remove_registration(args.issuer, args.client_id, integration.id)
    print(f"platform {args.issuer!r} (client id {args.client_id!r}) removed")
    return 0


def cmd_lti_register_url(args: argparse.Namespace) -> int:
    from ..lti.dynamic_registration import LINK_LIFETIME_SECONDS, new_link

    settings = settings_of(args)
    with opened(settings) as services:
        integration = services.store.integrations.get(args.integration)
        if integration is None:
            raise SystemExit(f"error: no integration named {args.integration!r}")
        try:
            code = new_link(services.store, integration.id, "cli", args.exam_url)
        except OpenproctorError as exc:
            raise SystemExit(f"error: --exam-url: {exc.message}") from None
    base = settings.public_origin or "https://THIS-SERVER"
    print(f"{base}/lti/register/{code}")
    print(
        f"paste it into the LMS's dynamic registration; it works once, for "
        f"{LINK_LIFETIME_SECONDS // 86400} days, for integration {args.integration!r}"
    )
    return 0


def cmd_lti_rotate_key(args: argparse.Namespace) -> int:
    from ..lti.keys import KEY_GRACE_SECONDS

    with opened(settings_of(args)) as services:
        kid = services.lti_keys.rotate()
    print(
        f"new tool signing key {kid}; the previous key stays published at /lti/jwks for "
        f"{KEY_GRACE_SECONDS // 86400} days"
    )
    return 0


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
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
    lreg = lsub.add_parser(
        "register-url",
        parents=[common],
        help="make a one-time LTI Dynamic Registration URL to paste into Moodle or Canvas",
    )
    lreg.add_argument("--integration", required=True, help="the integration it registers for")
    lreg.add_argument(
        "--exam-url", default=None, help="where learners go after a plain resource-link launch"
    )
    lreg.set_defaults(func=cmd_lti_register_url)
    lrot = lsub.add_parser(
        "rotate-key", parents=[common], help="create a new tool signing key (old one in grace)"
    )
    lrot.set_defaults(func=cmd_lti_rotate_key)
