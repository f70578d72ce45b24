"""No microversion gate in the source lies above the version its service advertises.

Some compute gates tested 2.62, 2.75 and 2.88 while compute advertised 2.47: branches
no request could ever reach, so whatever they promised was untested and unreachable.
This reads every gate in each service package (`at_least("X.Y")`, `require(request,
"X.Y")`, `VERSIONS.require(..., "X.Y")`) and checks it against the service's range.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

import overcast
from overcast.kit.microversion import APIVersion, VersionRange

ROOT = Path(overcast.__file__).parent
GATE = re.compile(r"""(?:at_least|require|_need)\((?:[^()"']*,\s*)?["'](\d+\.\d+)["']""")

#: service package -> the module that declares its VersionRange as VERSIONS
SERVICES = {"compute": "overcast.compute.api", "placement": "overcast.placement.api",
            "volume": "overcast.volume.api"}


def _range(module: str) -> VersionRange:
    found = importlib.import_module(module).VERSIONS
    assert isinstance(found, VersionRange)
    return found


@pytest.mark.parametrize("package", sorted(SERVICES))
def test_no_gate_above_the_advertised_maximum(package: str) -> None:
    versions = _range(SERVICES[package])
    too_high = []
    seen = 0
    for path in sorted((ROOT / package).rglob("*.py")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            for text in GATE.findall(line):
                seen += 1
                if APIVersion.parse(text) > versions.max:
                    too_high.append(f"{path.relative_to(ROOT)}:{lineno}: {text}")
    assert seen > 0, f"no gates found in {package}: the pattern no longer matches the code"
    assert not too_high, (f"{package} advertises at most {versions.max}, yet gates on: "
                          + ", ".join(too_high))


def test_require_refuses_a_gate_above_the_maximum() -> None:
    from starlette.requests import Request

    vr = VersionRange("compute", APIVersion(2, 1), APIVersion(2, 47))
    request = Request({"type": "http", "headers": [], "state": {}})
    with pytest.raises(ValueError, match="above the advertised maximum"):
        vr.require(request, "2.48")
    vr.require(request, "2.1")
