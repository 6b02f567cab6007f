"""Settings of the usage reports (§6.4): the prices of the estimated cost (IOTMON_ANALYTICS_PRICE_*).

The defaults are round figures in the range of managed IoT platforms' list prices, for an estimate only; set
your own. Read by the analytics bootstrap.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.analytics.domain.usage import Prices


class UsagePriceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IOTMON_ANALYTICS_PRICE_", extra="ignore")

    per_gb: float = Field(default=0.50, ge=0, description="per GB (10^9 bytes) of data ingested")
    per_million_messages: float = Field(default=1.00, ge=0, description="per million readings")
    per_device_month: float = Field(default=0.10, ge=0, description="per device that reported in the month")
    per_million_api_calls: float = Field(default=3.50, ge=0, description="per million REST API calls")
    currency: str = Field(default="USD", min_length=3, max_length=3)

    def prices(self) -> Prices:
        return Prices(
            self.per_gb, self.per_million_messages, self.per_device_month, self.per_million_api_calls, self.currency
        )
