"""The OpenAPI document and the Swagger UI, served from this site only."""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

ENDPOINTS = {
    ("post", "/api/auth/token/"),
    ("post", "/api/ws-ticket/"),
    ("get", "/api/me/"),
    ("post", "/api/me/calendar/reset/"),
    ("get", "/api/groups/"),
    ("post", "/api/groups/"),
    ("get", "/api/groups/{id}/"),
    ("patch", "/api/groups/{id}/"),
    ("delete", "/api/groups/{id}/"),
    ("get", "/api/groups/{id}/sessions/"),
    ("post", "/api/groups/{id}/join/"),
    ("post", "/api/groups/{id}/leave/"),
    ("get", "/api/groups/{id}/enrollments/"),
    ("get", "/api/groups/{id}/calendar.ics/"),
    ("get", "/api/sessions/"),
    ("get", "/api/sessions/{id}/"),
    ("patch", "/api/sessions/{id}/"),
    ("post", "/api/sessions/{id}/cancel/"),
    ("post", "/api/enrollments/{id}/approve/"),
    ("post", "/api/enrollments/{id}/decline/"),
    ("get", "/calendar/{token}.ics"),
}


@pytest.fixture
def schema() -> dict:
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def test_schema_is_openapi_3_with_every_endpoint(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "Haven API"
    operations = {(m, p) for p, ops in schema["paths"].items() for m in ops if m != "parameters"}
    assert operations >= ENDPOINTS


def test_every_scheduling_operation_has_a_summary_and_documents_its_errors(schema):
    for method, path in ENDPOINTS:
        op = schema["paths"][path][method]
        assert op.get("summary"), (method, path)
        if path.startswith("/api/") and path != "/api/auth/token/":
            assert "401" in op["responses"] or "403" in op["responses"], (method, path)
        if method in ("post", "patch") and "{id}" in path:
            assert "404" in op["responses"], (method, path)
        for code, response in op["responses"].items():
            if code.startswith("4") and "content" in response:
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error", (method, path, code)


def test_schema_documents_the_session_filters_and_token_auth(schema):
    params = {p["name"] for p in schema["paths"]["/api/sessions/"]["get"]["parameters"]}
    assert {"group", "facilitator", "upcoming", "limit", "offset"} <= params
    group_sessions = schema["paths"]["/api/groups/{id}/sessions/"]["get"]["parameters"]
    assert {"from", "to"} <= {p["name"] for p in group_sessions}
    assert "tokenAuth" in schema["components"]["securitySchemes"]


def test_api_docs_load_nothing_from_another_host():
    response = Client().get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", html)
    assert any(r.endswith("swagger-ui-bundle.js") for r in refs)
    for ref in refs:
        assert ref.startswith("/") and not ref.startswith("//"), ref
    assert not re.search(r"https?://", html.replace("http://www.w3.org", ""))


def test_api_docs_assets_are_served_by_this_site():
    html = Client().get("/api/docs/").content.decode()
    for ref in re.findall(r"""src\s*=\s*["'](/static/[^"']+)["']""", html):
        response = Client().get(ref)
        assert response.status_code == 200, ref
        b"".join(response.streaming_content) if response.streaming else response.content
