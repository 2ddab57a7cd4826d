"""Institution administration in the dashboard (admins only): alert webhooks with their delivery
log, and the LMS platforms registered for LTI 1.3. Everything is scoped to the admin's own
institution; another institution's webhook or platform answers 404 like a missing one."""

from __future__ import annotations

from starlette.responses import Response

from ... import constructor
from ...errors import NotFound, OpenproctorError
from ...identities import VISIBILITIES
from ...lti.dynamic_registration import new_link
from ...lti.registration import check_platform_settings, tool_settings
from ...storage.lti import LtiStore
from ..http import own_origin, status_of
from .guard import View, dashboard

# -- alert webhooks -------------------------------------------------------------------------------


async def _webhooks_page(
    view: View,
    status: int = 200,
    error: str = "",
    created: tuple[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    institution = view.reviewer.institution_id
    return await view.render(
        "dashboard/webhooks.html",
        status=status,
        webhooks=await view.run(view.state.webhooks.active, institution),
        deliveries=await view.run(view.state.webhooks.deliveries, institution),
        error=error,
        created=created,
        values=values or {},
    )


@dashboard(admin=True)
async def webhooks_page(view: View) -> Response:
    return await _webhooks_page(view)


@dashboard(admin=True, post=True)
async def add_webhook(view: View) -> Response:
    values = {"url": view.field("url"), "exam": view.field("exam")}
    try:
        webhook, secret = await view.run(
            view.state.webhooks.add,
            view.reviewer.institution_id,
            values["url"],
            values["exam"] or None,
            view.who,
        )
    except OpenproctorError as exc:
        return await _webhooks_page(view, status=400, error=exc.message, values=values)
    await view.audit("webhook.added", f"webhook:{webhook.id}", {"url": webhook.url, **values})
    # The secret is shown this once; it is stored encrypted and never displayed again.
    return await _webhooks_page(view, status=201, created=(webhook.url, secret))


@dashboard(admin=True, post=True)
async def remove_webhook(view: View) -> Response:
    webhook_id = view.request.path_params["webhook_id"]
    try:
        await view.run(view.state.webhooks.remove, view.reviewer.institution_id, webhook_id)
    except OpenproctorError:
        return await view.render("dashboard/not_found.html", status=404, what="webhook")
    await view.audit("webhook.removed", f"webhook:{webhook_id}")
    return view.redirect("dashboard:webhooks")


# -- LMS platforms (LTI 1.3 registrations) ---------------------------------------------------


async def _lti_page(
    view: View,
    status: int = 200,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    registration_url: str = "",
) -> Response:
    state, institution = view.state, view.reviewer.institution_id
    integrations = await view.run(state.store.integrations.of_institution, institution)
    names = {i.id: i.name for i in integrations}
    registrations = [
        r for r in await view.run(state.store.lti.list_registrations) if r.integration_id in names
    ]
    base = own_origin(view.request, state.settings.public_origin)
    return await view.render(
        "dashboard/lti.html",
        status=status,
        tool=tool_settings(base),
        base=base,
        integrations=integrations,
        registrations=registrations,
        names=names,
        calls=await view.run(state.store.lms.calls, institution),
        errors=errors or {},
        values=values or {},
        added=view.request.query_params.get("added", ""),
        registration_url=registration_url,
    )


@dashboard(admin=True)
async def lti_page(view: View) -> Response:
    return await _lti_page(view)


LTI_FIELDS = (
    "integration",
    "issuer",
    "client_id",
    "deployment_ids",
    "auth_url",
    "jwks_url",
    "public_jwk",
    "token_url",
    "exam_url",
)


@dashboard(admin=True, post=True)
async def add_platform(view: View) -> Response:
    values = {name: view.field(name) for name in LTI_FIELDS}
    values["policy_override"] = "true" if view.field("policy_override") == "true" else ""
    mine = await view.run(
        view.state.store.integrations.of_institution, view.reviewer.institution_id
    )
    integrations = {i.name: i for i in mine}
    integration = integrations.get(values["integration"])
    if integration is None:
        return await _lti_page(
            view, 400, {"integration": "choose one of your institution's integrations"}, values
        )
    try:
        settings = check_platform_settings(
            issuer=values["issuer"],
            client_id=values["client_id"],
            deployment_ids=values["deployment_ids"].replace(",", "\n").splitlines(),
            auth_url=values["auth_url"],
            jwks_url=values["jwks_url"] or None,
            public_jwk=values["public_jwk"] or None,
            token_url=values["token_url"] or None,
            exam_url=values["exam_url"] or None,
        )
        await view.run(
            view.state.store.lti.add_registration,
            integration.id,
            **settings,
            allow_policy_override=bool(values["policy_override"]),
        )
    except OpenproctorError as exc:
        field = str(exc.extra.get("field", "issuer"))
        return await _lti_page(view, status_of(exc), {field: exc.message}, values)
    await view.audit(
        "platform.added",
        f"platform:{settings.get('issuer', '')}",
        {k: v for k, v in settings.items() if k in ("issuer", "client_id", "auth_url", "jwks_url")},
    )
    return view.redirect("dashboard:platforms", "?added=1")


@dashboard(admin=True, post=True)
async def remove_platform(view: View) -> Response:
    registration_id = view.request.path_params["registration_id"]
    lti: LtiStore = view.state.store.lti
    found = await view.run(lti.get_registration, registration_id)
    integration = (
        await view.run(view.state.store.integrations.by_id, found.integration_id)
        if found is not None
        else None
    )
    if integration is None or integration.institution_id != view.reviewer.institution_id:
        return await view.render("dashboard/not_found.html", status=404, what="LMS platform")
    await view.run(lti.remove_registration_by_id, registration_id)
    issuer = found.issuer if found is not None else ""
    await view.audit("platform.removed", f"platform:{issuer}", {"registration": registration_id})
    return view.redirect("dashboard:platforms")


@dashboard(admin=True, post=True)
async def add_registration_link(view: View) -> Response:
    """A one-time Dynamic Registration URL for one of the institution's integrations (shown
    once: it attaches a platform to the institution)."""
    values = {
        "link_integration": view.field("link_integration"),
        "link_exam_url": view.field("link_exam_url"),
    }
    mine = await view.run(
        view.state.store.integrations.of_institution, view.reviewer.institution_id
    )
    integration = next((i for i in mine if i.name == values["link_integration"]), None)
    if integration is None:
        errors = {"link_integration": "choose one of your institution's integrations"}
        return await _lti_page(view, 400, errors, values)
    try:
        code = await view.run(
            new_link,
            view.state.store,
            integration.id,
            f"dashboard:{view.reviewer.name}",
            values["link_exam_url"] or None,
        )
    except OpenproctorError as exc:
        return await _lti_page(view, status_of(exc), {"link_exam_url": exc.message}, values)
    base = own_origin(view.request, view.state.settings.public_origin)
    return await _lti_page(view, 201, registration_url=f"{base}/lti/register/{code}")


# -- institution settings -------------------------------------------------------------------------


async def _settings_page(
    view: View,
    status: int = 200,
    error: str = "",
    saved: bool = False,
    integration_error: tuple[str, str] | None = None,
) -> Response:
    institution = view.reviewer.institution_id
    return await view.render(
        "dashboard/settings.html",
        status=status,
        visibility=await view.run(view.state.identities.visibility, institution),
        visibilities=VISIBILITIES,
        integrations=await view.run(view.state.store.integrations.of_institution, institution),
        integration_error=integration_error,
        error=error,
        saved=saved or view.request.query_params.get("saved") == "1",
    )


@dashboard(admin=True, post=True)
async def save_integration(view: View) -> Response:
    """An integration's Constructor settings: review_url, strict_claims (audited)."""
    name = view.request.path_params["integration"]
    mine = await view.run(
        view.state.store.integrations.of_institution, view.reviewer.institution_id
    )
    if name not in {i.name for i in mine}:
        raise NotFound("unknown_integration", f"no integration named {name!r}")
    try:
        await view.run(
            constructor.configure,
            view.state.store,
            name,
            view.who,
            review_url=view.field("review_url"),
            strict_claims=view.field("strict_claims") == "on",
        )
    except OpenproctorError as exc:
        return await _settings_page(view, status_of(exc), integration_error=(name, exc.message))
    return view.redirect("dashboard:settings", "?saved=1")


@dashboard(admin=True)
async def settings_page(view: View) -> Response:
    return await _settings_page(view)


@dashboard(admin=True, post=True)
async def save_settings(view: View) -> Response:
    try:
        await view.run(
            view.state.identities.set_visibility,
            view.reviewer,
            view.reviewer.institution_id,
            view.field("visibility"),
            view.who,
        )
    except OpenproctorError as exc:
        return await _settings_page(view, status_of(exc), exc.message)
    return view.redirect("dashboard:settings", "?saved=1")
