"""Access rule path templates, as keystonemiddleware matches them: `*` and `{name}`
are one path segment, `**` any number, everything else literal."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from overcast.kit import access_rules as ar
from overcast.kit.errors import Unauthorized


@pytest.mark.parametrize("path,template,ok", [
    ("/v2.1/servers", "/v2.1/servers", True),
    ("/v2.1/servers/abc/ips", "/v2.1/servers/*/ips", True),
    ("/v2.1/servers/abc/def/ips", "/v2.1/servers/*/ips", False),
    ("/v2.1/servers/abc/ips", "/v2.1/servers/{server_id}/ips", True),
    ("/v2.1/servers/abc/def/ips", "/v2.1/servers/**", True),
    ("/v2.1/servers", "/v2.1/servers/**", False),
    ("/v2.1/serversX", "/v2.1/servers", False),
    ("/v2x1/servers", "/v2.1/servers", False),       # `.` is literal
    ("/v3/users/u1", "/v3/users/*", True),
])
def test_path_templates(path: str, template: str, ok: bool) -> None:
    assert ar.path_matches(path, template) is ok


SPECS = [SimpleNamespace(type="identity", prefix="/identity", aliases=[]),
         SimpleNamespace(type="block-storage", prefix="/volume",
                         aliases=[("volumev3", "cinderv3", "/volume/v3")])]


def test_enforce_uses_the_service_type_and_its_aliases() -> None:
    rules = [{"service": "volumev3", "method": "GET", "path": "/v3/*/volumes"}]
    ar.enforce(rules, SPECS, "GET", "/volume/v3/p1/volumes")
    with pytest.raises(Unauthorized):
        ar.enforce(rules, SPECS, "POST", "/volume/v3/p1/volumes")
    with pytest.raises(Unauthorized):
        ar.enforce(rules, SPECS, "GET", "/elsewhere/v3/p1/volumes")
    # reading one's own token is always allowed
    ar.enforce(rules, SPECS, "GET", "/identity/v3/auth/tokens")
    with pytest.raises(Unauthorized):
        ar.enforce(rules, SPECS, "DELETE", "/identity/v3/auth/tokens")
