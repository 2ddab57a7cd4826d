"""A bare Starlette JSON echo endpoint: the ceiling the ingest benchmark compares against."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def echo(request: Request) -> JSONResponse:
    body = await request.json()
    return JSONResponse({"received": len(body.get("events", []))})


app = Starlette(routes=[Route("/echo", echo, methods=["POST"])])
