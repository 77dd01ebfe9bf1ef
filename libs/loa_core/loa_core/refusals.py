"""How every HTTP edge refuses a request: in English, then " / ", then Vietnamese (the house form, which each
service writes inline for its own refusals). FastAPI's own 422, for a request that does not match what a route
declares, is English and a list; `explain_invalid_requests` makes it a sentence in both languages like the rest."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def explain_invalid_requests(app: FastAPI) -> None:
    """422 with `detail` naming each wrong field and why, in both languages, and the fields in `errors`.

    The refused values are not echoed back (FastAPI's default does): a restream URL or a token may be among them.
    """

    async def invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{"loc": [str(part) for part in e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
        fields = [".".join(e["loc"]) for e in errors]
        english = "; ".join(f"{field}: {e['msg']}" for field, e in zip(fields, errors, strict=True))
        detail = f"The request is not valid: {english}. / Yêu cầu không hợp lệ ở: {', '.join(fields)}."
        return JSONResponse({"detail": detail, "errors": errors}, status_code=422)

    app.add_exception_handler(RequestValidationError, invalid)
