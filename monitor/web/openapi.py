"""The API's OpenAPI 3.1 description, written out by hand: it is short, and the tests check
every answer of the API against it (tests/test_web_api.py)."""

from __future__ import annotations

import functools
from typing import Any

NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}
TIME: dict[str, Any] = {"type": ["string", "null"], "format": "date-time"}
INT = {"type": "integer"}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


DUPLICATE_OF = {
    "oneOf": [
        {"type": "null"},
        _object(
            {
                "kind": {"enum": ["seed", "story"]},
                "id": {"type": ["string", "integer"]},
                "similarity": {"type": ["number", "null"]},
            }
        ),
    ]
}
STORY_FIELDS: dict[str, Any] = {
    "id": INT,
    "url": {"type": "string"},
    "title": {"type": "string"},
    "source": NULLABLE_STRING,
    "outlet": {"type": "string"},
    "topics": {"type": "array", "items": {"type": "string"}},
    "first_seen": TIME,
    "last_changed": TIME,
    "version_count": INT,
    "duplicate_of": DUPLICATE_OF,
    "change_class": NULLABLE_STRING,
    "cluster": {"type": ["integer", "null"]},
}
VERSION = _object(
    {
        "number": INT,
        "fetched_at": TIME,
        "title": {"type": "string"},
        "byline": NULLABLE_STRING,
        "published": TIME,
        "canonical_url": NULLABLE_STRING,
        "content_hash": {"type": "string"},
        "change_class": NULLABLE_STRING,
        "words_added": INT,
        "words_removed": INT,
        "final_url": NULLABLE_STRING,
        "charset": NULLABLE_STRING,
    }
)
EXTRACTION_FIELDS: dict[str, Any] = {
    "state": {"enum": ["ok", "degraded", "unknown"]},
    "reason": NULLABLE_STRING,
    "since": TIME,
    "held": INT,
    "pages": INT,
}
PAIR = {"oneOf": [{"type": "null"}, _object({"old": {}, "new": {}})]}
SCHEMAS: dict[str, Any] = {
    "Story": _object(STORY_FIELDS),
    "StoryDetail": _object(
        {
            **STORY_FIELDS,
            "status": {"type": "string"},
            "removed_at": TIME,
            "published": TIME,
            "byline": NULLABLE_STRING,
            "text": NULLABLE_STRING,
            "topic_terms": {
                "type": "object",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
            "next_check": TIME,
            "aliases": {"type": "array", "items": {"type": "string"}},
            "canonical_hint": NULLABLE_STRING,
            "matched": {
                "type": "array",
                "items": _object(
                    {
                        "topic": {"type": "string"},
                        "by": {"enum": ["keywords", "query", "like"]},
                        "terms": {"type": "array", "items": {"type": "string"}},
                        "example": NULLABLE_STRING,
                        "score": {"type": ["number", "null"]},
                        "explanation": {"type": "string"},
                    }
                ),
            },
            "versions": {"type": "array", "items": VERSION},
        }
    ),
    "Diff": _object(
        {
            "story_id": INT,
            "from_version": INT,
            "to_version": INT,
            "title_changed": PAIR,
            "changes": {
                "type": "array",
                "items": _object(
                    {
                        "op": {"enum": ["insert", "delete", "replace"]},
                        "old": {"type": "string"},
                        "new": {"type": "string"},
                    }
                ),
            },
            "stats": _object({"words_added": INT, "words_removed": INT}),
            "byline_changed": PAIR,
            "published_changed": PAIR,
            "change_class": NULLABLE_STRING,
        }
    ),
    "Event": _object(
        {
            "cluster": INT,
            "lead": {"$ref": "#/components/schemas/Story"},
            "outlets": {"type": "array", "items": {"type": "string"}},
            "sources": {"type": "array", "items": {"type": "string"}},
            "count": INT,
            "stories": {"type": "array", "items": INT},
        }
    ),
    "DayCount": _object(
        {"day": {"type": "string", "format": "date"}, "new": INT, "changed": INT, "removed": INT}
    ),
    "Source": _object(
        {
            "name": {"type": "string"},
            "kind": {"enum": ["feed", "page", "sitemap", "article"]},
            "url": {"type": "string"},
            "enabled": {"type": "boolean"},
            "last_polled": TIME,
            "last_status": {"type": ["integer", "null"]},
            "last_error": NULLABLE_STRING,
            "warning": NULLABLE_STRING,
            "consecutive_failures": INT,
            "next_poll": TIME,
            "stories": INT,
            "configured": {"type": "boolean"},
            "in_database": {"type": "boolean"},
            "extraction": _object(EXTRACTION_FIELDS),
        }
    ),
    "Status": _object(
        {
            "healthy": {"type": "boolean"},
            "health": {"type": "string"},
            "last_success": TIME,
            "sources": INT,
            "sources_failing": {"type": "array", "items": {"type": "string"}},
            "sources_overdue": {"type": "array", "items": {"type": "string"}},
            "sources_warning": INT,
            "stories": INT,
            "awaiting_recheck": INT,
            "links_failing": INT,
            "alerts_pending": INT,
            "alerts_failed": INT,
            "database_bytes": {"type": ["integer", "null"]},
            "extraction": _object(
                {
                    "degraded": {
                        "type": "array",
                        "items": _object({"source": {"type": "string"}, **EXTRACTION_FIELDS}),
                    },
                    "held": INT,
                }
            ),
        }
    ),
    "Error": _object({"error": {"type": "string"}}),
}


def _param(name: str, where: str, schema: dict[str, Any], about: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": where == "path",
        "schema": schema,
        "description": about,
    }


LIMIT = {"type": "integer", "minimum": 1, "maximum": 500}
STORY_ID = _param("story_id", "path", INT, "A story id.")
SINCE = _param(
    "since", "query", {"type": "string"}, "Window: 24h (default), 7d, 2026-01-27 or all."
)
TOPIC = _param(
    "topic",
    "query",
    {"type": "array", "items": {"type": "string"}},
    "Only this topic (repeatable).",
)
LIST_PARAMS = [
    _param("kind", "query", {"enum": ["", "new", "changed", "removed"]}, "None: new and changed."),
    SINCE,
    TOPIC,
    _param("include_duplicates", "query", {"type": "string"}, "1: also copies."),
    _param("outlet", "query", {"type": "string"}, "Only this outlet or source."),
    _param("q", "query", {"type": "string"}, "Words in the headline or the current text."),
    _param("event", "query", {"type": "integer"}, "Only the stories of this cluster."),
    _param("limit", "query", LIMIT, "Page size."),
    _param("cursor", "query", {"type": "string"}, "The next page (from the Link header)."),
]


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _answer(schema: dict[str, Any], about: str, *, errors: tuple[int, ...] = ()) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": {"description": about, "content": {"application/json": {"schema": schema}}}
    }
    for status in errors:
        responses[str(status)] = {
            "description": "bad request" if status == 400 else "not found",
            "content": {"application/json": {"schema": _ref("Error")}},
        }
    return responses


@functools.cache
def openapi() -> dict[str, Any]:
    list_of = {"type": "array"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "monitor",
            "version": "1",
            "description": "Read-only: the CLI's --json documents, field for field.",
        },
        "paths": {
            "/api/stories": {
                "get": {
                    "summary": "monitor list --json, one page; the next in the Link header",
                    "parameters": LIST_PARAMS,
                    "responses": _answer(
                        {**list_of, "items": _ref("Story")}, "stories", errors=(400,)
                    ),
                }
            },
            "/api/stories/{story_id}": {
                "get": {
                    "summary": "monitor show --json",
                    "parameters": [STORY_ID],
                    "responses": _answer(_ref("StoryDetail"), "a story", errors=(404,)),
                }
            },
            "/api/stories/{story_id}/diff": {
                "get": {
                    "summary": "monitor diff --json",
                    "parameters": [
                        STORY_ID,
                        _param("from", "query", INT, "Old version (default: to - 1)."),
                        _param("to", "query", INT, "New version (default: the latest)."),
                    ],
                    "responses": _answer(_ref("Diff"), "a diff", errors=(400, 404)),
                }
            },
            "/api/events": {
                "get": {
                    "summary": "monitor list --clusters --json, one page (the next: Link)",
                    "parameters": [
                        SINCE,
                        TOPIC,
                        _param("limit", "query", LIMIT, "Events per page."),
                        _param("offset", "query", {"type": "integer", "minimum": 0}, "Skip these."),
                    ],
                    "responses": _answer(
                        {**list_of, "items": _ref("Event")}, "events", errors=(400,)
                    ),
                }
            },
            "/api/topics/{name}/counts": {
                "get": {
                    "summary": "Stories of a topic per UTC day",
                    "parameters": [
                        _param("name", "path", {"type": "string"}, "A topic."),
                        _param(
                            "days",
                            "query",
                            {"type": "integer", "minimum": 1, "maximum": 366},
                            "Days up to today (default 30).",
                        ),
                    ],
                    "responses": _answer(
                        {**list_of, "items": _ref("DayCount")}, "counts", errors=(400, 404)
                    ),
                }
            },
            "/api/sources": {
                "get": {
                    "summary": "monitor sources --json",
                    "responses": _answer({**list_of, "items": _ref("Source")}, "sources"),
                }
            },
            "/api/status": {
                "get": {
                    "summary": "monitor status --json",
                    "responses": _answer(_ref("Status"), "status"),
                }
            },
        },
        "components": {"schemas": SCHEMAS},
    }
