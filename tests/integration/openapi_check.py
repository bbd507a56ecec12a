"""Validate live httpx exchanges against the worker's served OpenAPI document (openapi-core)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from openapi_core import OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict


@dataclass
class Request:
    """openapi-core's request protocol, over an httpx request."""

    host_url: str
    path: str
    method: str
    parameters: RequestParameters
    body: bytes | None = None
    content_type: str = "application/json"


@dataclass
class Response:
    status_code: int
    data: bytes
    content_type: str
    headers: Headers = field(default_factory=Headers)


def adapt(response: httpx.Response) -> tuple[Request, Response]:
    url = response.request.url
    request = Request(
        host_url=f"{url.scheme}://{url.netloc.decode()}",
        path=url.path,
        method=response.request.method.lower(),
        parameters=RequestParameters(
            query=ImmutableMultiDict(list(url.params.multi_items())),
            header=Headers(list(response.request.headers.items())),  # the bearer scheme
        ),
    )
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return request, Response(response.status_code, response.content, content_type)


class Contract:
    """The served description; ``check`` raises if a live exchange breaks it."""

    def __init__(self, spec: dict[str, Any], *base_urls: str) -> None:
        spec = {**spec, "servers": [{"url": url} for url in base_urls]}
        self.openapi = OpenAPI.from_dict(spec)

    def check(self, response: httpx.Response, valid_request: bool = True) -> httpx.Response:
        """Raise unless the response (and, unless told otherwise, the request) is as described."""
        request, adapted = adapt(response)
        if valid_request:
            self.openapi.validate_request(request)
        self.openapi.validate_response(request, adapted)
        return response
