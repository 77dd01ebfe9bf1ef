from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from loa_core.db import database_url
from loa_core.settings import CommonSettings


class MetricsSettings(CommonSettings):
    http_port: int = 8004

    # Kafka consumer session timeout; unset keeps Faust's default. A SIGKILLed replica's partitions move to the others
    # after this long without its heartbeat (tests shorten it).
    broker_session_timeout_s: float | None = None

    # How often consumer lag is measured for every Loa consumer group (one small request per group).
    lag_interval_s: float = 15.0

    # Engagement polling. Base URLs are configurable so the tests point them at emulators.
    youtube_api_base: str = "https://www.googleapis.com"
    tiktok_api_base: str = "https://open.tiktokapis.com"
    facebook_api_base: str = "https://graph.facebook.com"
    facebook_api_version: str = "v21.0"
    zalo_api_base: str = "https://openapi.zalo.me"
    # For channels configured by hand (no OAuth connection): {"<channel>": {"access_token": "...", "api_key": "..."}};
    # re-read every round. A channel without credentials is skipped (counted as no_credentials); polling always runs.
    stats_credentials_file: Path | None = None
    # The service token that reads connected channels' credentials from ingest (LOA_INGEST_URL), as the publisher's
    # does; ingest knows its sha256 (LOA_SERVICE_TOKEN_HASHES). A connected channel is polled with them, no file
    # needed (loa_metrics.channel_tokens).
    service_token: SecretStr | None = None
    # Where the publisher answers: a connected TikTok or Zalo channel's access token comes from it, asked with the
    # service token (the publisher knows its sha256, LOA_SERVICE_TOKEN_HASHES): their refresh tokens rotate, so
    # only the publisher refreshes them. Unset: such channels are not polled (said once in the log).
    publisher_url: str | None = None
    # How often the poller wakes; each post is only asked for when due (see engagement.poll_interval).
    stats_round_s: float = 300.0
    # Units a day the poller may spend of the YouTube project's quota (default 10,000 shared with uploads,
    # each videos.insert costing far more than a statistics call).
    youtube_daily_units: int = 2000
    # Requests a minute the poller may send TikTok per endpoint family (the platform allows 600).
    tiktok_requests_per_minute: int = 60
    # Requests an hour the poller may send each Facebook Page's Graph API (a Page's own limit is counted over 24 h
    # from its engaged users; one video_insights call per video) and Zalo's OpenAPI.
    facebook_requests_per_hour: int = 200
    zalo_requests_per_hour: int = 200
    # The platforms' feedback webhooks (loa_metrics.feedback_webhooks), each off until configured. Facebook: the
    # app's secret (signs every delivery) and the verify token typed into the app's webhook setup. Zalo: Loa's app
    # id and each linked OA's secret key by OA id ({"<oa id>": "<key>"}; a channel names its OA with its `oa_id`).
    facebook_app_secret: SecretStr | None = None
    facebook_webhook_verify_token: SecretStr | None = None
    zalo_app_id: str | None = None
    # A blank value is unset (Compose passes a platform left blank in .env as ""): the webhook stays off.
    zalo_oa_secret_keys: Annotated[dict[str, SecretStr], NoDecode] = Field(default_factory=dict)
    # Pages of one comment listing a round reads at most; an unfinished listing resumes on the next round.
    feedback_page_cap: int = 10

    # The report upward: each ward's name as printed ({"phuong-1": "Phường 1"}; a ward without one shows its id).
    ward_names: dict[str, str] = Field(default_factory=dict)
    # The monthly report mailed (loa_metrics/report_mail.py) on the 1st, the PDF and the XLSX attached, once per ward
    # and month: to report_emails, JSON {ward: [address, …]} ("district": the district's roll-up). Sent within the
    # first report_mail_days days of the month (a replica down on the 1st still sends on the 2nd; a new installation
    # does not mail last month's report in mid-month), checked every report_mail_interval_s.
    report_emails: dict[str, list[str]] = Field(default_factory=dict)
    report_mail_days: int = 3
    report_mail_interval_s: float = 600.0
    # SMTP for those reports (the same fields as the publisher's; nothing is mailed without smtp_host).
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "loa@localhost"

    @field_validator(
        "facebook_app_secret", "facebook_webhook_verify_token", "zalo_app_id", "zalo_oa_secret_keys", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: Any, info: Any) -> Any:
        # Never an empty key: a webhook signed with "" (or verified against "") would take anyone's deliveries.
        if isinstance(value, str) and not value.strip():
            return {} if info.field_name == "zalo_oa_secret_keys" else None
        if info.field_name == "zalo_oa_secret_keys" and isinstance(value, str):
            return json.loads(value)
        return value

    def projection_location(self) -> str:
        """LOA_DATABASE_URL, else <data_dir>/metrics-projection.sqlite3."""
        return database_url(self, "metrics-projection.sqlite3")
