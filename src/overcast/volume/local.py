"""The all-in-one cloud's own storage host: `overcast up` runs the storage
component in-process (like the network agent), with the file backend under
`DATA_DIR/volumes`, reading images from the image service's store in place."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from overcast.bus import Bus
from overcast.config import Settings


async def start_local_storage(app: Any, settings: Settings, bus: Bus) -> Any:
    from overcast.agent.storage.component import StorageComponent
    from overcast.agent.storage.file import FileDriver

    images = getattr(app.state, "images", None)

    async def image_path(image_id: str) -> Path:
        if images is None:
            raise RuntimeError("no image service")
        return Path(await asyncio.to_thread(images.local_file, image_id))

    host = socket.gethostname()
    root = settings.data_dir / "volumes"
    driver = FileDriver(root, host=host, nbd_address=settings.volume_nbd_address,
                        nbd_port=settings.volume_nbd_port)
    component = StorageComponent(host, driver, image_path=image_path,
                                 work_dir=root / "to-images")
    await component.start_on(bus)
    return component
