"""Exam policies in the dashboard: validated by the core with errors next to the field, saved to
staging, promoted to production after the diff, versions recorded by new sessions; admins only,
one institution only."""

from __future__ import annotations

import re

import pytest

from .conftest import csrf_of, sign_in, start_jwt

EXAM = "CS101-final"


@pytest.fixture
def exam(client, integration) -> str:
    """The exam exists once a session started: it got the default policy as production v1."""
    response = client.post(
        "/api/v1/sessions", json={"integrationName": "lms1", "jwt": start_jwt("p-1")}
    )
    assert response.status_code == 201
    assert response.json()["policy_version"] == 1
    return EXAM


def form_of(page_html: str, **changes: object) -> dict[str, object]:
    """The edit form as the page filled it, with ``changes`` applied."""
    data: dict[str, object] = {"csrf": csrf_of(page_html)}
    for name in (
        "trust_threshold",
        "log_retention_days",
        "heartbeat_seconds",
        "breaks_count",
        "breaks_max_minutes",
        "explanation_days",
    ):
        data[name] = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page_html).group(1)
    data["flags_enabled"] = re.findall(r'name="flags_enabled" value="([a-z_]+)" checked', page_html)
    data["prevent"] = re.findall(r'name="prevent" value="([a-z_]+)" checked', page_html)
    data["consent"] = re.search(r'<option value="([a-z]+)" selected', page_html).group(1)
    if re.search(r'name="visible_warnings" value="true" checked', page_html):
        data["visible_warnings"] = "true"
    data.update(changes)
    return data


def versions(store, exam_id: str = EXAM) -> list[tuple[int, str, float]]:
    return [
        (v.version, v.environment, v.policy.trust_threshold)
        for v in store.policies.versions("uni-a", exam_id)
    ]


def test_an_invalid_value_is_shown_next_to_its_field_and_nothing_is_stored(
    web, accounts, exam, store
):
    sign_in(web, "ada")
    page = web.get(f"/dashboard/policies/{exam}")
    assert page.status_code == 200
    for bad, message in (("1.5", "must be from 0 to 1"), ("high", "must be a number")):
        response = web.post(
            f"/dashboard/policies/{exam}", data=form_of(page.text, trust_threshold=bad)
        )
        assert response.status_code == 400
        error = re.search(r'id="trust_threshold-error">([^<]+)<', response.text).group(1)
        assert "trust_threshold" in error and message in error
        assert 'aria-describedby="trust_threshold-error"' in response.text
        assert f'value="{bad}"' in response.text  # what was typed is shown again
    weights = form_of(page.text, **{"weights.devtools_open": "11"})
    response = web.post(f"/dashboard/policies/{exam}", data=weights)
    assert response.status_code == 400
    assert "must be from 0 to 10" in re.search(
        r'id="weights-devtools_open-error">([^<]+)<', response.text
    ).group(1)
    assert versions(store) == [(1, "production", 0.7)]


def test_save_to_staging_then_promote_after_the_diff(web, client, accounts, exam, store):
    sign_in(web, "ada")
    page = web.get(f"/dashboard/policies/{exam}")
    flags = [f for f in form_of(page.text)["flags_enabled"] if f != "context_menu"]
    saved = web.post(
        f"/dashboard/policies/{exam}",
        data=form_of(
            page.text,
            trust_threshold="0.55",
            flags_enabled=flags,
            **{"weights.tab_switch": "2"},
            accommodations="student-9: focus_loss, idle  # screen reader",
        ),
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert versions(store) == [(2, "staging", 0.55), (1, "production", 0.7)]
    # Staging does not change what new sessions run under.
    started = client.post(
        "/api/v1/sessions", json={"integrationName": "lms1", "jwt": start_jwt("p-2")}
    ).json()
    assert started["policy_version"] == 1 and started["policy"]["trust_threshold"] == 0.7

    page = web.get(f"/dashboard/policies/{exam}")
    diff = re.search(r'<table class="diff" id="diff">(.*?)</table>', page.text, re.S).group(1)
    assert "<td>trust threshold</td><td>0.7</td><td>0.55</td>" in diff
    assert "context_menu" in diff and "tab_switch: 2.0" in diff
    assert "student-9: exempt_flags" in diff
    promoted = web.post(
        f"/dashboard/policies/{exam}/promote",
        data={"csrf": csrf_of(page.text), "version": "2"},
        follow_redirects=False,
    )
    assert promoted.status_code == 303
    assert versions(store)[0] == (3, "production", 0.55)
    started = client.post(
        "/api/v1/sessions", json={"integrationName": "lms1", "jwt": start_jwt("p-3")}
    ).json()
    assert started["policy_version"] == 3 and started["policy"]["trust_threshold"] == 0.55
    assert "context_menu" not in started["policy"]["flags_enabled"]
    assert started["policy"]["weights"] == {"tab_switch": 2.0}
    page = web.get(f"/dashboard/policies/{exam}?done=promoted")
    assert "No differences" in page.text and 'id="promote"' not in page.text


def test_promotion_refuses_a_version_other_than_the_one_reviewed(web, accounts, exam, store):
    sign_in(web, "ada")
    page = web.get(f"/dashboard/policies/{exam}")
    for threshold in ("0.6", "0.65"):
        web.post(f"/dashboard/policies/{exam}", data=form_of(page.text, trust_threshold=threshold))
    stale = web.post(
        f"/dashboard/policies/{exam}/promote", data={"csrf": csrf_of(page.text), "version": "2"}
    )
    assert stale.status_code == 409 and "staging has changed since you reviewed it" in stale.text
    assert [v for v in versions(store) if v[1] == "production"] == [(1, "production", 0.7)]


def test_a_new_exam_policy_is_validated_then_stored_in_staging(web, accounts, store):
    sign_in(web, "ada")
    page = web.get("/dashboard/policies/new")
    assert page.status_code == 200
    data = form_of(page.text, exam_id="has space")
    response = web.post("/dashboard/policies/new", data=data)
    assert response.status_code == 400 and 'id="exam_id-error"' in response.text
    data = form_of(page.text, exam_id="BIO-2", accommodations="no colon here")
    response = web.post("/dashboard/policies/new", data=data)
    assert response.status_code == 400
    assert "line 1 must look like" in response.text
    data = form_of(page.text, exam_id="BIO-2", accommodations="s1: telepathy")
    response = web.post("/dashboard/policies/new", data=data)
    assert response.status_code == 400 and "unknown flag &#39;telepathy&#39;" in response.text
    assert versions(store, "BIO-2") == []
    data = form_of(page.text, exam_id="BIO-2", trust_threshold="0.8")
    assert web.post("/dashboard/policies/new", data=data, follow_redirects=False).status_code == 303
    assert versions(store, "BIO-2") == [(1, "staging", 0.8)]
    listing = web.get("/dashboard/policies").text
    assert "BIO-2" in listing and "changes to promote" in listing


def test_reviewers_read_policies_but_only_admins_change_them(web, accounts, exam, store):
    sign_in(web, "alice")
    page = web.get(f"/dashboard/policies/{exam}")
    assert page.status_code == 200 and "<fieldset disabled>" in page.text
    assert 'id="save"' not in page.text
    edit = web.post(f"/dashboard/policies/{exam}", data=form_of(page.text, trust_threshold="0.1"))
    assert edit.status_code == 403 and "administrators" in edit.text
    assert web.get("/dashboard/policies/new").status_code == 403
    assert versions(store) == [(1, "production", 0.7)]


def test_another_institution_cannot_see_or_change_the_policy(web, accounts, exam, store):
    sign_in(web, "bob")  # admin of uni-b
    assert exam not in web.get("/dashboard/policies").text
    assert web.get(f"/dashboard/policies/{exam}").status_code == 404
    csrf = csrf_of(web.get("/dashboard/policies").text)
    response = web.post(
        f"/dashboard/policies/{exam}",
        data={
            "csrf": csrf,
            "trust_threshold": "0.1",
            "log_retention_days": "1",
            "heartbeat_seconds": "5",
        },
    )
    assert response.status_code == 404
    assert (
        web.post(
            f"/dashboard/policies/{exam}/promote", data={"csrf": csrf, "version": "1"}
        ).status_code
        == 404
    )
    assert versions(store) == [(1, "production", 0.7)]


def test_policy_forms_need_the_csrf_token(web, accounts, exam, store):
    sign_in(web, "ada")
    page = web.get(f"/dashboard/policies/{exam}")
    forged = form_of(page.text, trust_threshold="0.2", csrf="forged")
    assert web.post(f"/dashboard/policies/{exam}", data=forged).status_code == 403
    assert versions(store) == [(1, "production", 0.7)]


def test_what_the_student_sees_is_set_in_the_form_and_kept_on_the_next_edit(
    web, accounts, exam, store
):
    sign_in(web, "ada")
    page = web.get(f"/dashboard/policies/{exam}")
    assert '<option value="required" selected' in page.text
    changed = form_of(
        page.text,
        consent="notice",
        breaks_count="2",
        breaks_max_minutes="15",
        prevent=["copy", "print"],
        accommodations="student-9: focus_loss, breaks 4x30  # extra time",
    )
    del changed["visible_warnings"]  # the box unticked
    assert web.post(f"/dashboard/policies/{exam}", data=changed).status_code in (200, 303)
    staged = store.policies.versions("uni-a", exam)[0].policy
    assert (staged.consent, staged.visible_warnings) == ("notice", False)
    assert (staged.breaks.count, staged.breaks.max_minutes) == (2, 15)
    assert staged.prevent == {"copy", "print"}
    assert staged.breaks_for("student-9").to_dict() == {"count": 4, "max_minutes": 30}
    # the next edit starts from what was saved: nothing set here is lost
    again = web.get(f"/dashboard/policies/{exam}")
    assert "breaks 4x30" in again.text and 'value="print" checked' in again.text
    shown = re.search(r'<textarea id="accommodations"[^>]*>([^<]*)<', again.text).group(1)
    edit = form_of(again.text, trust_threshold="0.6", accommodations=shown)
    web.post(f"/dashboard/policies/{exam}", data=edit)
    kept = store.policies.versions("uni-a", exam)[0].policy
    assert kept.trust_threshold == 0.6 and kept.prevent == staged.prevent
    assert kept.breaks_for("student-9") == staged.breaks_for("student-9")
    assert (kept.consent, kept.visible_warnings) == ("notice", False)


def test_a_bad_break_allowance_is_named_next_to_its_field(web, accounts, exam, store):
    sign_in(web, "ada")
    page = web.get(f"/dashboard/policies/{exam}")
    for changes, says in (
        ({"breaks_count": "50"}, "from 0 to 20"),
        ({"accommodations": "student-9: breaks lots"}, "breaks 3x20"),
    ):
        response = web.post(f"/dashboard/policies/{exam}", data=form_of(page.text, **changes))
        assert response.status_code == 400 and says in response.text
    assert [v for v, *_ in versions(store)] == [1]
