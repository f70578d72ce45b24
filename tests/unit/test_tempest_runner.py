"""scripts/tempest_run.py: the tempest.conf it writes from what the cloud offers, and
how it sorts failures into expected and new."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runner() -> Any:
    spec = importlib.util.spec_from_file_location("tempest_run",
                                                  ROOT / "scripts" / "tempest_run.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["tempest_run"] = mod
    spec.loader.exec_module(mod)
    return mod


def _facts(runner: Any, **catalog: str) -> Any:
    base = {"identity": "http://h/identity/v3", "compute": "http://h/compute/v2.1",
            "image": "http://h/image", "network": "http://h/network"}
    return runner.Facts(
        auth={"username": "admin", "password": "pw", "project_name": "admin",
              "user_domain_name": "Default", "auth_url": "http://h/identity/v3"},
        region="RegionOne", catalog={**base, **catalog}, images=["img-a", "img-b"],
        flavors=["42", "84"], public_network_id="pub", public_network_name="public",
        compute_range=("2.1", "2.47"), network_extensions=["router", "port-security"],
        import_methods=["glance-direct"], stores=["file"],
        identity_features={"trust": False, "access_rules": True,
                           "security_compliance": True},
        volume_range=("3.0", "3.70") if catalog else ("", ""))


def test_conf_describes_what_the_cloud_offers(runner: Any, tmp_path: Path) -> None:
    c = runner.tempest_conf(_facts(runner), tmp_path)
    assert c["service_available"]["cinder"] == "false"
    assert c["service_available"]["swift"] == "false"
    assert c["service_available"]["nova"] == "true"
    assert "volume" not in c
    assert (c["compute"]["min_microversion"], c["compute"]["max_microversion"]) == \
        ("2.1", "2.47")
    assert (c["compute"]["image_ref"], c["compute"]["image_ref_alt"]) == ("img-a", "img-b")
    assert (c["compute"]["flavor_ref"], c["compute"]["flavor_ref_alt"]) == ("42", "84")
    assert c["network"]["public_network_id"] == "pub"
    assert c["network-feature-enabled"]["api_extensions"] == "router,port-security"
    assert c["network-feature-enabled"]["port_security"] == "true"
    assert c["image-feature-enabled"]["import_image"] == "true"
    assert c["image-feature-enabled"]["store_weight_enabled"] == "false"
    assert c["identity-feature-enabled"]["trust"] == "false"
    assert c["identity-feature-enabled"]["access_rules"] == "true"
    assert c["identity-feature-enabled"]["security_compliance"] == "true"
    # Tempest expects the lockout and history the runner starts the cloud with
    assert c["identity"]["user_lockout_failure_attempts"] == \
        str(runner.SECURITY_COMPLIANCE["lockout_failure_attempts"])
    assert c["identity"]["user_unique_last_password_count"] == \
        str(runner.SECURITY_COMPLIANCE["unique_last_password_count"])
    assert c["validation"]["run_validation"] == "false"


def test_a_service_in_the_catalog_is_turned_on(runner: Any, tmp_path: Path) -> None:
    c = runner.tempest_conf(_facts(runner, **{
        "block-storage": "http://h/volume/v3/p", "object-store": "http://h/object/v1/AUTH_p"}),
        tmp_path)
    assert c["service_available"]["cinder"] == "true"
    assert c["service_available"]["swift"] == "true"
    assert c["volume"]["catalog_type"] == "block-storage"
    assert c["volume"]["max_microversion"] == "3.70"
    assert c["compute-feature-enabled"]["volume_multiattach"] == "false"
    assert "volume_type_multiattach" not in c["volume"]


def test_multiattach_when_the_cloud_made_its_type(runner: Any, tmp_path: Path) -> None:
    facts = _facts(runner, **{"block-storage": "http://h/volume/v3/p"})
    facts.multiattach_type = "multiattach"
    c = runner.tempest_conf(facts, tmp_path)
    assert c["compute-feature-enabled"]["volume_multiattach"] == "true"
    assert c["volume"]["volume_type_multiattach"] == "multiattach"
    assert runner._at_least("2.69", (2, 60)) and not runner._at_least("2.59", (2, 60))
    assert not runner._at_least("", (2, 60)) and runner._at_least("3.70", (3, 50))


def test_version_documents(runner: Any) -> None:
    nova = {"versions": [{"id": "v2.0", "status": "DEPRECATED", "version": "",
                          "min_version": ""},
                         {"id": "v2.1", "status": "CURRENT", "version": "2.47",
                          "min_version": "2.1"}]}
    assert runner._range(nova) == ("2.1", "2.47")
    cinder = {"versions": [{"id": "v3.0", "status": "CURRENT", "version": "3.70",
                            "min_version": "3.0"}]}
    assert runner._range(cinder) == ("3.0", "3.70")
    placement = {"versions": [{"id": "v1.0", "max_version": "1.39", "min_version": "1.0",
                               "status": "CURRENT"}]}
    assert runner._range(placement) == ("1.0", "1.39")
    assert runner._range({"nothing": 1}) == ("", "")
    assert runner._root_of("http://h:1/compute/v2.1") == "http://h:1/compute/"
    assert runner._root_of("http://h:1/volume/v3/abc") == "http://h:1/volume/"


def test_known_failures_match_by_test_class_or_module(runner: Any, tmp_path: Path) -> None:
    path = tmp_path / "known.txt"
    path.write_text("# comment\n\n"
                    "tempest.api.image.v2.test_x.Cls  whole class\n"
                    "tempest.api.network.test_y.C.test_one  one test\n"
                    "tempest.api.compute.mod  a module\n", encoding="utf-8")
    known = runner.load_known(path)
    reason = runner.known_reason
    assert reason("tempest.api.image.v2.test_x.Cls.test_a[id-1,smoke]", known) == \
        "whole class"
    assert reason("setUpClass (tempest.api.image.v2.test_x.Cls)", known) == "whole class"
    assert reason("tempest.api.image.v2.test_x.Clsx.test_a[id-1]", known) is None
    assert reason("tempest.api.network.test_y.C.test_one[id-2]", known) == "one test"
    assert reason("tempest.api.network.test_y.C.test_two[id-3]", known) is None
    assert reason("tempest.api.compute.mod.K.test[id-4]", known) == "a module"
    assert runner.class_of("tempest.a.b.C.test_z[id-1]") == "tempest.a.b.C"
    assert runner.class_of("setUpClass (tempest.a.b.C)") == "tempest.a.b.C"


def test_report_fails_on_new_failures_and_5xx(runner: Any, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "overcast.log"
    log.write_text("x INFO method=GET path=/a status=200 duration_ms=1\n")
    known = {"tempest.a.C.test_known": "listed"}
    rows = [("tempest.a.C.test_known[id-1]", "fail"), ("tempest.a.C.test_ok[id-2]", "success"),
            ("tempest.a.C.test_skip[id-3]", "skip")]
    assert runner.report(rows, known, log) == 0
    out = capsys.readouterr().out
    assert "1 passed, 1 failed (1 expected, 0 new), 1 skipped" in out
    assert runner.report([*rows, ("tempest.a.D.test_new[id-4]", "fail")], known, log) == 1
    assert "NEW  test_new" in capsys.readouterr().out
    log.write_text("x ERROR method=POST path=/b status=500 duration_ms=1\n")
    assert runner.report(rows, known, log) == 1
    assert "1 × 5xx" in capsys.readouterr().out
    # a listed test that passes is pointed out, and so is a listed class none of
    # whose tests failed (skips say nothing)
    assert runner.report([("tempest.a.C.test_known[id-1]", "success")], known, log) == 1
    assert "remove them from the list" in capsys.readouterr().out
    log.write_text("")
    by_class = {"tempest.a.K": "a class"}
    assert runner.report([("tempest.a.K.t1[id-1]", "success"),
                          ("tempest.a.K.t2[id-2]", "fail")], by_class, log) == 0
    assert "remove them" not in capsys.readouterr().out
    assert runner.report([("tempest.a.K.t1[id-1]", "success"),
                          ("tempest.a.K.t2[id-2]", "skip")], by_class, log) == 0
    assert "tempest.a.K\n" in capsys.readouterr().out
    assert runner.report([("tempest.a.K.t2[id-2]", "skip")], by_class, log) == 0
    assert "remove them" not in capsys.readouterr().out


def test_project_lists_are_well_formed(runner: Any) -> None:
    known = runner.load_known(runner.KNOWN_FAILURES)
    assert known and all(k.startswith("tempest.") and len(r) > 10 for k, r in known.items())
    regex = re.compile(runner.ci_regex())
    assert regex.search("tempest.api.network.test_ports.PortsTestJSON.test_x[id-1]")
    assert regex.search("tempest.api.compute.servers.test_a.T.test_b[id-1,smoke]")
    assert not regex.search("tempest.api.compute.servers.test_a.T.test_b[id-1]")
    assert regex.search("tempest.api.image.v2.admin.test_image_task.ImageTaskCreate."
                        "test_task_create_fake_image_location[id-1]")
    assert not regex.search("tempest.api.image.v2.admin.test_image_caching.ImageCachingTest."
                            "test_x[id-1]")
    assert not regex.search("tempest.scenario.test_x.T.test_b[id-1,smoke]")
