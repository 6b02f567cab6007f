"""The shared object store: write-oriented (reports, exports, archives), on the filesystem or in S3.

`ObjectStore` is the contract; `open_object_store` picks the adapter from `ObjectStoreSettings`
(`IOTMON_OBJECTS_*`). Firmware keeps its own upload-oriented store (services/firmware/adapters).
"""

from services.runtime.objects.factory import ObjectStoreSettings, open_object_store
from services.runtime.objects.store import ObjectInfo, ObjectStore, WrittenObject

__all__ = ["ObjectInfo", "ObjectStore", "ObjectStoreSettings", "WrittenObject", "open_object_store"]
