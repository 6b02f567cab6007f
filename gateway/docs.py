"""/openapi.json, its 3.0 view and /docs: Swagger UI served from the swagger_ui_bundle package (no CDN).

The documents are generated on first request and kept as bytes: they never change while the process runs.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property

import orjson
import swagger_ui_bundle
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from gateway.openapi import as_openapi_30
from gateway.schemas import Schema

OPENAPI_PATH = "/openapi.json"
OPENAPI_30_PATH = "/openapi-3.0.json"
DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"

# Swagger UI 4 understands OpenAPI 3.0 only, so it reads the 3.0 view of the same document.
SWAGGER_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>IoT Monitoring API</title>
  <link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{ASSETS_PATH}/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "{OPENAPI_30_PATH}",
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout"
    }});
  </script>
</body>
</html>
"""


class ApiDocuments:
    def __init__(self, generate: Callable[[], Schema]):
        self._generate = generate

    @cached_property
    def document(self) -> Schema:
        return self._generate()

    @cached_property
    def openapi_31(self) -> bytes:
        return orjson.dumps(self.document)

    @cached_property
    def openapi_30(self) -> bytes:
        return orjson.dumps(as_openapi_30(self.document))

    async def openapi(self, request: Request) -> Response:
        return Response(self.openapi_31, media_type="application/json")

    async def openapi_legacy(self, request: Request) -> Response:
        return Response(self.openapi_30, media_type="application/json")

    def routes(self) -> list[BaseRoute]:
        return [
            Route(OPENAPI_PATH, self.openapi, methods=["GET"]),
            Route(OPENAPI_30_PATH, self.openapi_legacy, methods=["GET"]),
            Route(DOCS_PATH, swagger_page, methods=["GET"]),
            Mount(ASSETS_PATH, StaticFiles(directory=str(swagger_ui_bundle.swagger_ui_path)), name="docs-assets"),
        ]


async def swagger_page(request: Request) -> Response:
    return HTMLResponse(SWAGGER_PAGE)
