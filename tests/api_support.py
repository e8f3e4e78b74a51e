"""Checks an API answer against the OpenAPI document the app serves."""

from __future__ import annotations

import re


def check_documented(app, doc, method: str, url: str, response) -> None:
    """Fail unless *response* is a status the document lists for the route, in its shape."""
    from openapi_schema_validator import OAS31Validator, oas31_format_checker
    from werkzeug.exceptions import HTTPException

    path = url.split("?")[0]
    try:
        rule, _args = app.url_map.bind("localhost").match(path, method, return_rule=True)
    except HTTPException:
        return  # no such route: the app-wide 404/405 handlers answer
    route = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
    documented = doc["paths"][route][method.lower()]["responses"]
    status = str(response.status_code)
    assert status in documented, (method, route, status, response.get_data(as_text=True)[:300])
    answer = documented[status]
    if "$ref" in answer:
        answer = doc["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    schema = answer.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return
    root = {"components": doc["components"], "allOf": [schema]}
    OAS31Validator(root, format_checker=oas31_format_checker).validate(response.json)
