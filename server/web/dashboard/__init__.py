"""The reviewer dashboard: its routes in one table, behind one middleware.

Every page but sign-in needs a signed-in reviewer (:class:`~.guard.RequireReviewer`); routes are
named, and pages and redirects build their URLs from the names (``dashboard:session`` ...). The
queue is the prefix itself, ``/dashboard``: a Mount only routes paths below its prefix, so the
queue is a route of its own behind the same middleware.
"""

from __future__ import annotations

from starlette.middleware import Middleware
from starlette.routing import Mount, Route, request_response

from . import admin, audit, fairness, people, policies, queue, reports, whatif
from .guard import RequireReviewer

PREFIX = "/dashboard"

routes = [
    Route(
        PREFIX,
        RequireReviewer(request_response(queue.queue)),
        methods=["GET"],
        name="dashboard:queue",
    ),
    Mount(
        PREFIX,
        name="dashboard",
        middleware=[Middleware(RequireReviewer)],
        routes=[
            Route("/login", queue.login_form, methods=["GET"], name="login"),
            Route("/login", queue.login, methods=["POST"], name="sign_in"),
            Route("/logout", queue.logout, methods=["POST"], name="logout"),
            Route("/sessions/{session_id}", queue.session_page, methods=["GET"], name="session"),
            Route(
                "/sessions/{session_id}/decisions", queue.decide, methods=["POST"], name="decide"
            ),
            Route("/sessions/{session_id}/reveal", queue.reveal, methods=["POST"], name="reveal"),
            Route(
                "/sessions/{session_id}/incidents",
                queue.judge_incident,
                methods=["POST"],
                name="judge_incident",
            ),
            Route("/sessions/{session_id}/claim", queue.claim, methods=["POST"], name="claim"),
            Route("/settings", admin.settings_page, methods=["GET"], name="settings"),
            Route("/settings", admin.save_settings, methods=["POST"], name="save_settings"),
            Route(
                "/settings/integrations/{integration}",
                admin.save_integration,
                methods=["POST"],
                name="save_integration",
            ),
            Route("/policies", policies.policy_list, methods=["GET"], name="policies"),
            Route("/policies/new", policies.new_policy_page, methods=["GET"], name="new_policy"),
            Route("/policies/new", policies.create_policy, methods=["POST"], name="create_policy"),
            Route("/policies/{exam_id}", policies.policy_page, methods=["GET"], name="policy"),
            Route(
                "/policies/{exam_id}", policies.save_policy, methods=["POST"], name="save_policy"
            ),
            Route(
                "/policies/{exam_id}/promote", policies.promote, methods=["POST"], name="promote"
            ),
            Route(
                "/policies/{exam_id}/access-code",
                policies.set_access_code,
                methods=["POST"],
                name="access_code",
            ),
            Route("/reports", reports.report_page, methods=["GET"], name="reports"),
            Route("/fairness", fairness.fairness_page, methods=["GET"], name="fairness"),
            Route("/audit", audit.audit_page, methods=["GET"], name="audit"),
            Route("/whatif", whatif.whatif_page, methods=["GET"], name="whatif"),
            Route("/whatif/adopt", whatif.adopt, methods=["POST"], name="adopt"),
            Route("/people", people.people_page, methods=["GET"], name="people"),
            Route("/people/export", people.people_export, methods=["GET"], name="people_export"),
            Route("/people/erase", people.people_erase, methods=["POST"], name="people_erase"),
            Route("/audit.csv", audit.audit_csv, methods=["GET"], name="audit_csv"),
            Route("/fairness.csv", fairness.fairness_csv, methods=["GET"], name="fairness_csv"),
            Route("/reports.csv", reports.report_csv, methods=["GET"], name="reports_csv"),
            Route(
                "/reports/apply-threshold",
                reports.apply_threshold,
                methods=["POST"],
                name="apply_threshold",
            ),
            Route("/webhooks", admin.webhooks_page, methods=["GET"], name="webhooks"),
            Route("/webhooks", admin.add_webhook, methods=["POST"], name="add_webhook"),
            Route(
                "/webhooks/{webhook_id:id}/remove",
                admin.remove_webhook,
                methods=["POST"],
                name="remove_webhook",
            ),
            Route("/lti", admin.lti_page, methods=["GET"], name="platforms"),
            Route("/lti", admin.add_platform, methods=["POST"], name="add_platform"),
            Route(
                "/lti/registration-url",
                admin.add_registration_link,
                methods=["POST"],
                name="add_registration_link",
            ),
            Route(
                "/lti/{registration_id:id}/remove",
                admin.remove_platform,
                methods=["POST"],
                name="remove_platform",
            ),
        ],
    ),
]
