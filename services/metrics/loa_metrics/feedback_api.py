"""What Loa collects from each channel, and how: `GET /feedback/collection` for the channel pages (ingest relays it).

Per channel of the caller's ward (every ward for a district admin): what its platform's API lets Loa collect
(contracts.feedback.FEEDBACK_ABILITIES: a TikTok channel collects nothing, and says why in both languages), how
(polling, the platform's webhook, or nothing), when it last collected, and the platform's quota the poller spent
in the budget's window (YouTube: units in the last 24 h, of the poller's daily share).
"""

# No `from __future__ import annotations` here: FastAPI must resolve the route annotations.

from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated, Literal, Protocol

from fastapi import APIRouter, Depends
from pydantic import BaseModel

from loa_core.auth import Caller
from loa_core.channels import Channel
from loa_core.contracts import FEEDBACK_ABILITIES
from loa_metrics.feedback_store import FeedbackStore

How = Literal["polling", "webhook", "none"]
# Why a platform collects nothing, for its channel page.
NOTHING: Mapping[str, str] = {
    "tiktok": "TikTok gives comments only through its API for Business accounts, which Loa does not use: read them in "
    "the TikTok app. / TikTok chỉ cho đọc bình luận qua API dành cho tài khoản doanh nghiệp, Loa không dùng: "
    "xem bình luận trong ứng dụng TikTok.",
    "local": "A local target has no audience. / Đích cục bộ không có người xem.",
}


class QuotaUse(Protocol):
    """A platform's budget as shown: engagement.Budget, or the service's view of the poller's (poller.PolledBudget)."""

    @property
    def limit(self) -> int: ...

    @property
    def window_s(self) -> float: ...

    def used(self) -> int: ...


class Quota(BaseModel):
    used: int
    limit: int
    window_s: float


class Collection(BaseModel):
    channel: str
    ward: str
    platform: str
    collects: list[str]  # "comments", "messages"
    how: How
    note: str | None = None
    last_collected_at: str | None = None
    quota: Quota | None = None


def how_collected(channel: Channel) -> How:
    abilities = FEEDBACK_ABILITIES.get(channel.platform, frozenset())
    if "messages" in abilities:
        return "webhook"  # Zalo: messages only arrive pushed
    if "comments" not in abilities:
        return "none"
    return "webhook" if channel.platform == "facebook" and channel.options.get("feedback_webhook") else "polling"


def collection_router(
    require_token: Callable[..., Awaitable[Caller]],
    channels: Mapping[str, Channel],
    store: FeedbackStore,
    budgets: Mapping[str, QuotaUse],
) -> APIRouter:
    router = APIRouter()

    @router.get("/feedback/collection")
    async def collection(who: Annotated[Caller, Depends(require_token)]) -> list[Collection]:
        out = []
        for channel in sorted(channels.values(), key=lambda c: c.name):
            if not who.sees(channel.ward):
                continue
            abilities = FEEDBACK_ABILITIES.get(channel.platform, frozenset())
            budget = budgets.get(channel.platform)
            out.append(
                Collection(
                    channel=channel.name,
                    ward=channel.ward,
                    platform=channel.platform,
                    collects=sorted(abilities & {"comments", "messages"}),
                    how=how_collected(channel),
                    note=NOTHING.get(channel.platform) if not abilities & {"comments", "messages"} else None,
                    last_collected_at=store.last_collected(channel.name),
                    quota=Quota(used=budget.used(), limit=budget.limit, window_s=budget.window_s) if budget else None,
                )
            )
        return out

    return router
