"""LTI Dynamic Registration in Chromium, as Canvas runs it: the LMS's admin page opens the
tool's registration URL in an iframe; the tool registers and posts
``{subject: "org.imsglobal.lti.close"}`` to its parent, which then closes it."""

from __future__ import annotations

from urllib.parse import urlencode

from openproctor.server.lti.dynamic_registration import new_link

from ..lti_services import RegisteringPlatform, serve


def test_the_lms_is_told_to_close_the_registration_window(page, context, live_server):
    context.grant_permissions(["local-network-access"])
    store = live_server.store()
    try:
        integration = store.integrations.get("lms")
        code = new_link(store, integration.id, "test")
    finally:
        store.close()
    side = RegisteringPlatform("canvas", "https://canvas.instructure.com", "https://x/jwks")
    with serve(side) as canvas:
        query = urlencode(
            {"openid_configuration": canvas.configuration_url, "registration_token": canvas.token}
        )
        tool = f"{live_server.base}/lti/register/{code}?{query}"
        page.goto(f"{canvas.base}/admin?" + urlencode({"open": tool}))
        page.wait_for_function("() => window.received.length > 0", timeout=30_000)
        assert page.evaluate("() => window.received") == [{"subject": "org.imsglobal.lti.close"}]
        frame = page.frame_locator("#tool")
        assert "openproctor is registered with canvas" in frame.locator("h1").inner_text()
    store = live_server.store()
    try:
        issuers = [r.issuer for r in store.lti.list_registrations()]
    finally:
        store.close()
    assert "https://canvas.instructure.com" in issuers
