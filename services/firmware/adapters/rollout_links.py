"""DownloadLinks from the catalog's object store: a presigned GET per job document.

A link is made when a job is sent or asked for, so it outlives the device's download, not the whole rollout;
a device that comes back after it expired asks for its job again (`$next/get`, GET …/jobs) and gets a new one.
"""

from __future__ import annotations

from services.firmware.ports import ObjectStore

# Long enough for a device that was offline for a while, or on a slow link, to fetch its image.
DEFAULT_EXPIRES_IN = 24 * 3600.0


class PresignedDownloadLinks:
    def __init__(self, objects: ObjectStore, *, expires_in: float = DEFAULT_EXPIRES_IN):
        self._objects = objects
        self._expires_in = expires_in

    async def url_for(self, object_key: str) -> str:
        return await self._objects.presign_download(object_key, expires_in=self._expires_in)
