"""The compute API's microversion range (2.1 to 2.47), shared by the routes that
negotiate it and the request schemas that differ along it."""

from __future__ import annotations

from overcast.kit.microversion import APIVersion, VersionRange

VERSIONS = VersionRange("compute", APIVersion(2, 1), APIVersion(2, 47),
                        legacy_header="X-OpenStack-Nova-API-Version")
