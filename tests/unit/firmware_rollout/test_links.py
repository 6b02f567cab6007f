"""Job documents link to the image through the catalog's object store, presigned for a day by default."""

from __future__ import annotations

from services.firmware.adapters.rollout_links import PresignedDownloadLinks


class PresigningStore:
    def __init__(self) -> None:
        self.asked: list[tuple[str, float]] = []

    async def presign_download(self, key: str, *, expires_in: float) -> str:
        self.asked.append((key, expires_in))
        return f"https://objects.example/{key}?expires={int(expires_in)}"


async def test_links_are_presigned_downloads_of_the_object() -> None:
    objects = PresigningStore()
    assert await PresignedDownloadLinks(objects).url_for("firmware/fw-1.bin") == (  # type: ignore[arg-type]
        "https://objects.example/firmware/fw-1.bin?expires=86400"
    )
    await PresignedDownloadLinks(objects, expires_in=60).url_for("k")  # type: ignore[arg-type]
    assert objects.asked == [("firmware/fw-1.bin", 86400.0), ("k", 60)]
