"""Tempest against a live overcast: start the cloud, describe it to Tempest, run, report.

scripts/tempest.sh installs Tempest and calls this with overcast's interpreter. Its part:
the one place that turns "what this cloud really offers" into a tempest.conf, the way
DevStack's lib/tempest does for a DevStack cloud. Everything in the file is read from the
live cloud (catalog, images, flavors, the external network, the compute microversion
range, Neutron's extension list, Glance's import methods and stores, which identity
APIs answer); services absent from the catalog are marked unavailable, so a service
that lands later is tested without touching this file. The few compute features that
no API reveals are in COMPUTE_FEATURES, each with why.

After the run it prints totals, failures grouped by test class (each marked expected,
with the reason from tests/tempest/known_failures.txt, or NEW), known failures that now
pass, and the number of 5xx answers in overcast's log.
"""

from __future__ import annotations

import argparse
import configparser
import contextlib
import csv
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
KNOWN_FAILURES = ROOT / "tests" / "tempest" / "known_failures.txt"
CI_MODULES = ROOT / "tests" / "tempest" / "ci_modules.txt"
DEFAULT_REGEX = r"^tempest\.api\.(identity|compute|image|network)\."

#: Compute features Tempest cannot learn from any API (Nova has no capability
#: document for server actions). Each is what overcast's compute service implements
#: today; turn one on in the same change that makes it work.
COMPUTE_FEATURES: dict[str, bool] = {
    "pause": True, "suspend": True, "resize": True, "snapshot": True,
    "console_output": True, "disk_config": True,
    # every driver shelves (power off, snapshot, destroy, spawn again)
    "shelve": True, "shelve_migrate": False, "rescue": True, "stable_rescue": False,
    "interface_attach": True, "change_password": True, "personality": True,
    "cold_migration": False, "live_migration": False, "vnc_console": False,
    "spice_console": False, "serial_console": False, "swap_volume": False,
    "volume_multiattach": False, "attach_encrypted_volume": False,
    # Devices overcast's QEMU driver does not give guests.
    "ide_bus": False, "config_drive": False, "metadata_service": True,
    "enable_instance_password": True,
}

#: Compute features only some drivers have (Driver.capabilities): on only when every
#: compute host's driver has them (the fake one does; QEMU and containers do not yet).
DRIVER_FEATURES: dict[str, set[str]] = {"rescue": {"fake"}, "change_password": {"fake"},
                                         "interface_attach": {"fake"}}

#: Image features no Glance API reveals, as overcast's image service has them.
IMAGE_FEATURES: dict[str, bool] = {
    # Uploads are inspected and refused when the data is not in the declared
    # disk_format (image/inspect.py), as Glance does with this flag on.
    "image_format_enforcement": True,
    # Not (yet) in overcast: see tests/tempest/known_failures.txt.
    "do_secure_hash": False, "manage_locations": False, "image_conversion": False,
    "http_store_enabled": False,
}


# ----- the cloud ------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: The security compliance settings the cloud under test runs with (DevStack's
#: KEYSTONE_LOCKOUT_* and KEYSTONE_UNIQUE_LAST_PASSWORD_COUNT), also written into
#: tempest.conf's [identity] so Tempest expects what the cloud does.
SECURITY_COMPLIANCE = {"lockout_failure_attempts": 2, "lockout_duration": 10,
                       "unique_last_password_count": 2}


@dataclass
class Cloud:
    data_dir: Path
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, real: bool) -> None:
        env = dict(os.environ)
        env.setdefault("OVERCAST_BCRYPT_ROUNDS", "4")
        for key, value in SECURITY_COMPLIANCE.items():
            env.setdefault(f"OVERCAST_{key.upper()}", str(value))
        if not real:
            env["OVERCAST_AGENT_DRIVER"] = "fake"
            env["OVERCAST_DATAPLANE"] = "none"
        log = open(self.log_path, "ab")  # noqa: SIM115 - as long as the process
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from overcast.cli import main; main()", "up",
             "--data-dir", str(self.data_dir), "--port", str(self.port),
             "--no-user-clouds-yaml"],
            stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 600  # the first start may build the test image
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"overcast up exited:\n{self.log_path.read_text()[-3000:]}")
            # The API answers only once `overcast up` has laid its networks and images.
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/identity/v3", timeout=2).status_code == 200:
                    return
            time.sleep(0.5)
        raise SystemExit("overcast up did not come up in 10 minutes")

    def stop(self, real: bool) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if real:
            # The dataplane outlives `overcast up` (dnsmasq, namespaces, bridges, as
            # Neutron's agents leave theirs): take this cloud's off the host while its
            # data dir (with the pid files) still exists.
            subprocess.run([sys.executable, "-c", "from overcast.cli import main; main()",
                            "down", "--purge", "--data-dir", str(self.data_dir)],
                           capture_output=True, timeout=300, check=False)


@dataclass
class Facts:
    """What Tempest needs to know about the cloud, all of it read from the cloud."""

    auth: dict[str, str]
    region: str
    catalog: dict[str, str] = field(default_factory=dict)  # service type -> public URL
    images: list[str] = field(default_factory=list)
    flavors: list[str] = field(default_factory=list)
    public_network_id: str = ""
    public_network_name: str = ""
    compute_range: tuple[str, str] = ("", "")
    hypervisor_types: set[str] = field(default_factory=set)
    volume_range: tuple[str, str] = ("", "")
    placement_range: tuple[str, str] = ("", "")
    network_extensions: list[str] = field(default_factory=list)
    import_methods: list[str] = field(default_factory=list)
    stores: list[str] = field(default_factory=list)
    identity_features: dict[str, bool] = field(default_factory=dict)
    object_info: dict[str, Any] = field(default_factory=dict)  # Swift's /info
    multiattach_type: str = ""  # the volume type made for multiattach volumes


def _admin_session(cloud: Cloud) -> tuple[httpx.Client, dict[str, Any], dict[str, str]]:
    conf = yaml.safe_load((cloud.data_dir / "clouds.yaml").read_text())["clouds"]["overcast"]
    auth = conf["auth"]
    body = {"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": auth["username"], "password": auth["password"],
            "domain": {"name": auth["user_domain_name"]}}}},
        "scope": {"project": {"name": auth["project_name"],
                              "domain": {"name": auth["project_domain_name"]}}}}}
    client = httpx.Client(timeout=30)
    r = client.post(auth["auth_url"] + "/auth/tokens", json=body)
    r.raise_for_status()
    client.headers["X-Auth-Token"] = r.headers["X-Subject-Token"]
    return client, r.json()["token"], {**auth, "region": conf.get("region_name", "RegionOne")}


def _range(doc: Any) -> tuple[str, str]:
    """(min, max) microversion from a service's version document, or ("", "")."""
    versions = doc.get("versions") if isinstance(doc, dict) else None
    if isinstance(versions, dict):  # Cinder/Keystone style {"versions": {"values": []}}
        versions = versions.get("values")
    if isinstance(doc, dict) and "version" in doc and not versions:
        versions = [doc["version"]]
    for v in versions or []:
        top = v.get("max_version") or v.get("version") or ""
        if top and v.get("status", "").upper() in ("CURRENT", "STABLE"):
            return v.get("min_version") or "", top
    return "", ""


def _root_of(url: str) -> str:
    """The service's unversioned root: `http://h:p/compute/v2.1` -> `http://h:p/compute/`."""
    return re.sub(r"/v\d+(\.\d+)?(/.*)?$", "", url.rstrip("/")) + "/"


def read_facts(cloud: Cloud) -> Facts:
    client, token, auth = _admin_session(cloud)
    facts = Facts(auth=auth, region=auth["region"])
    for svc in token.get("catalog", []):
        for ep in svc.get("endpoints", []):
            if ep.get("interface") == "public":
                facts.catalog[svc["type"]] = ep["url"]
    cat = facts.catalog

    if "image" in cat:
        img = cat["image"].rstrip("/") + "/v2"
        images = client.get(img + "/images", params={"status": "active", "limit": 100})
        # A bootable image first: machine images (ami) and disks, not kernels/ramdisks.
        bootable = [i for i in images.json()["images"]
                    if i.get("disk_format") not in ("aki", "ari")
                    and i.get("container_format") not in ("docker", "compressed")]
        # Machine images and qcow2 disks boot on every driver; then the smallest.
        bootable.sort(key=lambda i: (i.get("disk_format") not in ("ami", "qcow2"),
                                     i.get("size") or 0))
        facts.images = [i["id"] for i in bootable][:2]
        info = client.get(img + "/info/import")
        if info.status_code == 200:
            facts.import_methods = list(info.json().get("import-methods", {}).get("value", []))
        stores = client.get(img + "/info/stores")
        if stores.status_code == 200:
            facts.stores = [s["id"] for s in stores.json().get("stores", [])]

    if "compute" in cat:
        flavors = client.get(cat["compute"].rstrip("/") + "/flavors/detail").json()["flavors"]
        # DevStack's choice: the two smallest flavors (m1.nano 42, m1.micro 84 there).
        flavors.sort(key=lambda f: (f["ram"], f["vcpus"], f["disk"], f["id"]))
        facts.flavors = [f["id"] for f in flavors][:2]
        facts.compute_range = _range(client.get(_root_of(cat["compute"])).json())
        hypervisors = client.get(cat["compute"].rstrip("/") + "/os-hypervisors/detail")
        if hypervisors.status_code == 200:
            facts.hypervisor_types = {h.get("hypervisor_type", "") for h in
                                      hypervisors.json().get("hypervisors", [])}

    if "network" in cat:
        net = cat["network"].rstrip("/") + "/v2.0"
        ext = client.get(net + "/networks", params={"router:external": "true"}).json()
        public = [n for n in ext["networks"] if n.get("router:external")]
        if public:
            facts.public_network_id = public[0]["id"]
            facts.public_network_name = public[0]["name"]
        facts.network_extensions = sorted(
            e["alias"] for e in client.get(net + "/extensions").json()["extensions"])

    for kind in ("block-storage", "volumev3", "volume"):
        if kind in cat:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                facts.volume_range = _range(client.get(_root_of(cat[kind])).json())
            # As DevStack with multiattach on: a volume type whose volumes attach to
            # many servers, when compute (2.60) and block storage (3.50) both can.
            if _at_least(facts.compute_range[1], (2, 60)) and \
                    _at_least(facts.volume_range[1], (3, 50)):
                types = cat[kind].rstrip("/") + "/types"
                got = client.get(types)
                names = {t["name"] for t in got.json().get("volume_types", [])} \
                    if got.status_code == 200 else set()
                if "multiattach" in names or client.post(types, json={"volume_type": {
                        "name": "multiattach", "extra_specs": {
                            "multiattach": "<is> True"}}}).status_code == 200:
                    facts.multiattach_type = "multiattach"
            break
    if "placement" in cat:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            facts.placement_range = _range(client.get(cat["placement"]).json())

    if "object-store" in cat:
        # DevStack makes Swift's reseller admin role; Tempest's account quota
        # tests give it to a dynamic user (and fail their setup when it is absent).
        ident_url = cat.get("identity", auth["auth_url"]).rstrip("/")
        roles = client.get(ident_url + "/roles", params={"name": "ResellerAdmin"})
        if roles.status_code == 200 and not roles.json().get("roles"):
            client.post(ident_url + "/roles", json={"role": {"name": "ResellerAdmin"}})
        # Swift's /info sits beside /v1 (the endpoint is .../v1/AUTH_<project>).
        root = cat["object-store"].split("/v1/", 1)[0]
        with contextlib.suppress(httpx.HTTPError, ValueError):
            got = client.get(root + "/info")
            if got.status_code == 200:
                facts.object_info = got.json()

    # Identity APIs that Keystone always has but overcast may not yet: ask them.
    ident = cat.get("identity", auth["auth_url"]).rstrip("/")
    user_id = token["user"]["id"]
    facts.identity_features = {
        "trust": client.get(ident + "/OS-TRUST/trusts").status_code == 200,
        "access_rules": client.get(ident + f"/users/{user_id}/access_rules").status_code == 200,
        "security_compliance": client.get(
            ident + "/domains/default/config/security_compliance").status_code == 200,
    }
    client.close()
    return facts


# ----- tempest.conf ---------------------------------------------------------------

def _b(value: bool) -> str:
    return "true" if value else "false"


def _at_least(version: str, wanted: tuple[int, int]) -> bool:
    """An "X.Y" microversion (or "") is at least `wanted`."""
    major, _, minor = version.partition(".")
    return bool(version) and (int(major), int(minor or 0)) >= wanted


def tempest_conf(facts: Facts, ws: Path) -> configparser.ConfigParser:
    cat = facts.catalog
    volume_type = next((t for t in ("block-storage", "volumev3", "volume") if t in cat), "")
    c = configparser.ConfigParser(interpolation=None)
    c["DEFAULT"] = {"log_dir": str(ws / "logs"), "log_file": "tempest.log", "debug": "true"}
    c["oslo_concurrency"] = {"lock_path": str(ws / "tempest_lock")}
    c["auth"] = {
        "use_dynamic_credentials": "true", "create_isolated_networks": "true",
        "admin_username": facts.auth["username"], "admin_password": facts.auth["password"],
        "admin_project_name": facts.auth["project_name"],
        "admin_domain_name": facts.auth["user_domain_name"],
    }
    c["identity"] = {"uri_v3": facts.auth["auth_url"], "auth_version": "v3",
                     "region": facts.region}
    compliance = facts.identity_features.get("security_compliance", False)
    if compliance:
        c["identity"].update({
            "user_lockout_failure_attempts":
                str(SECURITY_COMPLIANCE["lockout_failure_attempts"]),
            "user_lockout_duration": str(SECURITY_COMPLIANCE["lockout_duration"]),
            "user_unique_last_password_count":
                str(SECURITY_COMPLIANCE["unique_last_password_count"]),
            "user_minimum_password_age": "0"})
    c["identity-feature-enabled"] = {
        "api_v2": "false", "api_v2_admin": "false", "api_v3": "true",
        "trust": _b(facts.identity_features.get("trust", False)),
        "access_rules": _b(facts.identity_features.get("access_rules", False)),
        "security_compliance": _b(compliance), "domain_specific_drivers": "false",
        "immutable_user_source": "false",
    }
    c["service_available"] = {
        "nova": _b("compute" in cat), "glance": _b("image" in cat),
        "neutron": _b("network" in cat), "cinder": _b(bool(volume_type)),
        "swift": _b("object-store" in cat), "horizon": "false",
    }
    if "compute" in cat:
        lo, hi = facts.compute_range
        images = facts.images + facts.images[:1] * (2 - len(facts.images))
        c["compute"] = {
            "image_ref": images[0], "image_ref_alt": images[1],
            "flavor_ref": facts.flavors[0], "flavor_ref_alt": facts.flavors[-1],
            "region": facts.region, "min_microversion": lo or "2.1",
            "max_microversion": hi or "2.1",
            "fixed_network_name": "", "build_timeout": "120",
        }
        c["compute-feature-enabled"] = {k: _b(v) for k, v in COMPUTE_FEATURES.items()}
        for feature, drivers in DRIVER_FEATURES.items():
            c["compute-feature-enabled"][feature] = _b(
                COMPUTE_FEATURES[feature] and bool(facts.hypervisor_types)
                and facts.hypervisor_types <= drivers)
        c["compute-feature-enabled"]["resize"] = _b(COMPUTE_FEATURES["resize"]
                                                    and len(set(facts.flavors)) > 1)
        c["compute-feature-enabled"]["volume_multiattach"] = _b(bool(facts.multiattach_type))
    c["image"] = {"region": facts.region}
    c["image-feature-enabled"] = {
        "api_v2": "true",
        "import_image": _b("glance-direct" in facts.import_methods),
        "os_glance_reserved": "true",
        **{k: _b(v) for k, v in IMAGE_FEATURES.items()},
        "store_weight_enabled": _b(len(facts.stores) > 1),
    }
    c["network"] = {
        "region": facts.region, "public_network_id": facts.public_network_id,
        "floating_network_name": facts.public_network_name,
        "project_network_cidr": "10.100.0.0/16", "project_network_mask_bits": "28",
    }
    ext = facts.network_extensions
    c["network-feature-enabled"] = {
        "api_extensions": ",".join(ext) or "None",
        "ipv6": "true", "ipv6_subnet_attributes": "true",
        "port_security": _b("port-security" in ext),
        "floating_ips": _b("router" in ext),
    }
    c["validation"] = {"run_validation": "false"}
    if volume_type:
        lo, hi = facts.volume_range
        c["volume"] = {"catalog_type": volume_type, "region": facts.region,
                       "min_microversion": lo or "3.0", "max_microversion": hi or "3.0",
                       # what overcast's storage backends report (pools, capabilities)
                       "vendor_name": "overcast", "storage_protocol": "file/nbd"}
        if facts.multiattach_type:
            c["volume"]["volume_type_multiattach"] = facts.multiattach_type
        # backups need the object store (they answer 503 'not available' without it)
        c["volume-feature-enabled"] = {"backup": _b("object-store" in cat)}
    if facts.placement_range[1]:
        c["placement"] = {"min_microversion": facts.placement_range[0] or "1.0",
                          "max_microversion": facts.placement_range[1]}
    if "object-store" in cat:
        c["object-storage"] = {"operator_role": "member", "region": facts.region,
                               "reseller_admin_role": "ResellerAdmin"}
        # As DevStack does: the optional APIs are what /info lists (its sections
        # besides "swift" itself); container sync and versioning only when listed.
        info = facts.object_info
        digests = info.get("tempurl", {}).get("allowed_digests", [])
        c["object-storage-feature-enabled"] = {
            "discoverable_apis": ",".join(sorted(k for k in info if k != "swift")) or "None",
            "discoverability": _b(bool(info)),
            "container_sync": _b("container_sync" in info),
            "object_versioning": _b("versioned_writes" in info),
            "tempurl_digest_hashlib": "sha256" if "sha256" in digests
            else (digests[0] if digests else "sha256"),
        }
    return c


# ----- results --------------------------------------------------------------------

def load_known(path: Path) -> dict[str, str]:
    """`test-id-or-prefix  reason` per line; `#` starts a comment line."""
    known: dict[str, str] = {}
    if not path.exists():
        return known
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, reason = line.partition(" ")
        known[key] = reason.strip() or "(no reason given)"
    return known


def plain_id(test_id: str) -> str:
    """`tempest.x.Class.test[id-…,smoke]` -> `tempest.x.Class.test`;
    `setUpClass (tempest.x.Class)` -> `tempest.x.Class`."""
    m = re.match(r"^(?:setUpClass|tearDownClass) \(([^)]+)\)", test_id)
    if m:
        return m.group(1)
    return test_id.split("[", 1)[0]


def class_of(test_id: str) -> str:
    pid = plain_id(test_id)
    if test_id.startswith(("setUpClass", "tearDownClass")):
        return pid
    return pid.rsplit(".", 1)[0]


def known_key(test_id: str, known: dict[str, str]) -> str | None:
    """The entry of the list (the test, its class or its module) that names the test."""
    parts = plain_id(test_id).split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in known:
            return key
    return None


def known_reason(test_id: str, known: dict[str, str]) -> str | None:
    key = known_key(test_id, known)
    return None if key is None else known[key]


def results(ws: Path, venv: Path) -> list[tuple[str, str]]:
    sub = subprocess.run([str(venv / "bin" / "stestr"), "last", "--subunit"], cwd=ws,
                         capture_output=True, check=False)
    rows = subprocess.run([str(venv / "bin" / "subunit2csv")], input=sub.stdout,
                          capture_output=True, check=False).stdout.decode()
    out = []
    # subunit's words: success, fail(ure), skip, xfail, uxsuccess
    aliases = {"failure": "fail", "uxsuccess": "fail", "xfail": "success"}
    for row in csv.DictReader(io.StringIO(rows)):
        out.append((row["test"], aliases.get(row["status"], row["status"])))
    return out


def report(rows: list[tuple[str, str]], known: dict[str, str], log: Path) -> int:
    counts: dict[str, int] = defaultdict(int)
    failures: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    ran: set[str] = set()      # listed entries with a test that ran (not skipped)
    failed: set[str] = set()   # listed entries with a test that failed
    for test_id, status in rows:
        counts[status] += 1
        if status == "fail":
            failures[class_of(test_id)].append((test_id, known_reason(test_id, known)))
        key = known_key(test_id, known)
        if key is not None and status in ("success", "fail"):
            ran.add(key)
            if status == "fail":
                failed.add(key)
    # An entry (test, class or module) whose tests ran and none failed is stale.
    passed_known = sorted(ran - failed)
    new = sum(1 for fs in failures.values() for _, r in fs if r is None)
    print("\n== tempest results")
    print(f"   ran {len(rows)}: {counts['success']} passed, {counts['fail']} failed "
          f"({counts['fail'] - new} expected, {new} new), {counts['skip']} skipped")
    if failures:
        print("\n== failures by test class")
        for cls in sorted(failures):
            fs = failures[cls]
            n_new = sum(1 for _, r in fs if r is None)
            tag = f"{n_new} NEW" if n_new else "expected"
            print(f"   {cls}: {len(fs)} ({tag})")
            reasons = sorted({r for _, r in fs if r is not None})
            for r in reasons:
                print(f"       known: {r}")
            for t, r in fs:
                if r is None:
                    print(f"       NEW  {plain_id(t).rsplit('.', 1)[-1]}")
    if passed_known:
        print("\n== listed as known failures but passed (remove them from the list):")
        for t in passed_known:
            print(f"   {t}")
    text = log.read_text(errors="replace") if log.exists() else ""
    errors = [line for line in text.splitlines() if re.search(r" status=5\d\d ", line)]
    print(f"\n== overcast answered {len(errors)} × 5xx")
    for line in errors[:20]:
        print(f"   {line}")
    return 1 if new or errors else 0


def ci_regex() -> str:
    """The smoke tests of the areas overcast serves, and every module (or class)
    listed in tests/tempest/ci_modules.txt: the modules known to pass whole."""
    listed = [line.split()[0] for line in CI_MODULES.read_text(encoding="utf-8").splitlines()
              if line.strip() and not line.startswith("#")] if CI_MODULES.exists() else []
    parts = [DEFAULT_REGEX + r"(?=.*\bsmoke\b)"]
    parts += [f"^{re.escape(mod)}(\\.|\\[|$)" for mod in listed]
    return "|".join(f"(?:{p})" for p in parts)


# ----- main -----------------------------------------------------------------------

def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("regex", nargs="?", default=None)
    ap.add_argument("--tempest-venv", type=Path, required=True)
    ap.add_argument("--real", action="store_true")
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--skip-known", action="store_true")
    ap.add_argument("--ci", action="store_true",
                    help="the CI set: smoke tests and the modules in tests/tempest/"
                         "ci_modules.txt, known failures skipped")
    ap.add_argument("--known-failures", type=Path, default=KNOWN_FAILURES)
    ap.add_argument("--workspace", type=Path, default=None,
                    help="where the run's workspace goes (default: CACHE/tempest-last)")
    args = ap.parse_args()
    venv: Path = args.tempest_venv
    if args.ci:
        args.regex, args.smoke, args.skip_known = ci_regex(), False, True
    cache = Path(os.environ["OVERCAST_CACHE_DIR"])
    ws = args.workspace or cache / "tempest-last"
    if ws.exists() and any(ws.iterdir()) and not (ws / "workspace.yaml").exists():
        raise SystemExit(f"{ws} is not empty and is no earlier run's workspace: not reused")
    shutil.rmtree(ws, ignore_errors=True)  # the previous run's
    ws.mkdir(parents=True)
    # A private workspace registry: nothing is added to ~/.tempest/workspace.yaml.
    subprocess.run([str(venv / "bin" / "tempest"), "init", "--name", f"overcast-{os.getpid()}",
                    "--workspace-path", str(ws / "workspace.yaml"), str(ws / "ws")],
                   check=True, capture_output=True)
    ws = ws / "ws"
    data = Path(tempfile.mkdtemp(prefix="overcast-tempest-"))
    cloud = Cloud(data_dir=data / "cloud", port=free_port(), log_path=ws / "overcast-up.log")
    known = load_known(args.known_failures)
    began = time.monotonic()
    try:
        print(f"== starting overcast up on port {cloud.port} "
              f"({'real drivers' if args.real else 'fake driver'}), data in {data}")
        cloud.start(args.real)
        facts = read_facts(cloud)
        conf = tempest_conf(facts, ws)
        with open(ws / "etc" / "tempest.conf", "w") as fh:
            conf.write(fh)
        print(f"== tempest.conf written ({ws / 'etc' / 'tempest.conf'}); services: "
              + ", ".join(f"{k}={conf.get('service_available', k)}"
                         for k in ("nova", "glance", "neutron", "cinder", "swift")))
        argv = [str(venv / "bin" / "tempest"), "run", "--concurrency", str(args.concurrency)]
        regex = args.regex or ("" if args.smoke else DEFAULT_REGEX)
        if args.smoke and not regex:
            argv += ["--smoke"]
        elif regex:
            # A look-ahead keeps `smoke` an extra condition on the test id.
            argv += ["--regex", (r"(?=.*\bsmoke\b)" if args.smoke else "") + regex]
        if args.skip_known and known:
            exclude = ws / "exclude-known.txt"
            exclude.write_text("".join(f"^{re.escape(k)}(\\.|\\[|$)\n" for k in known))
            argv += ["--exclude-list", str(exclude)]
        print("== " + " ".join(argv[1:]) + f"  (output: {ws / 'tempest-run.log'})")
        env = {**os.environ, "PATH": f"{venv / 'bin'}:{os.environ['PATH']}"}
        env.pop("PYTHONPATH", None)  # tempest's venv, not overcast's sources
        with open(ws / "tempest-run.log", "w") as out:
            proc = subprocess.Popen(argv, cwd=ws, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                if " ... FAILED" in line:
                    sys.stdout.write("   " + line.strip().split("} ", 1)[-1] + "\n")
                    sys.stdout.flush()
            proc.wait()
    finally:
        cloud.stop(args.real)
        with contextlib.suppress(OSError):
            shutil.copy(cloud.data_dir / "logs" / "overcast.log", ws / "overcast.log")
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)
    rows = results(ws, venv)
    if not rows:
        print(f"no results: see {ws / 'tempest-run.log'}")
        return 1
    status = report(rows, known, ws / "overcast.log")
    print(f"\n== {time.monotonic() - began:.0f} s; workspace {ws} "
          f"(`stestr -d {ws} failing` for the tracebacks)")
    return status


if __name__ == "__main__":
    sys.exit(main())
