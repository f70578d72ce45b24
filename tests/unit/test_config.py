"""Settings precedence: defaults < overcast.yaml < OVERCAST_* < overrides."""

from pathlib import Path

import pytest

from overcast.config import Settings, SettingsError, default_cache_dir, load_settings
from tests.conftest import build_cloud


def test_precedence(tmp_path: Path) -> None:
    (tmp_path / "overcast.yaml").write_text("port: 9000\nregion: Yaml\ntoken_expiration: 60\n")
    s = load_settings(data_dir=tmp_path, environ={"OVERCAST_PORT": "9100",
                                                  "OVERCAST_LOCAL_AGENT": "false"}, region="Flag")
    assert s.port == 9100 and s.region == "Flag" and s.token_expiration == 60
    assert s.local_agent is False
    assert s.db_url == f"sqlite:///{tmp_path / 'overcast.db'}"
    assert s.base_url == "http://127.0.0.1:9100"


def test_cloud_id_is_stable_per_data_dir(tmp_path: Path) -> None:
    a = load_settings(data_dir=tmp_path / "a", environ={})
    b = load_settings(data_dir=tmp_path / "b", environ={})
    assert a.cloud_id == load_settings(data_dir=tmp_path / "a", environ={}).cloud_id
    assert a.cloud_id != b.cloud_id and len(a.cloud_id) == 6


def test_unknown_yaml_key_is_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "overcast.yaml").write_text("port: 9000\nuplink_mtus: 9000\n")
    with pytest.raises(SettingsError) as err:
        load_settings(data_dir=tmp_path, environ={})
    assert "'uplink_mtus'" in str(err.value) and "'uplink_mtu'" in str(err.value)
    assert str(tmp_path / "overcast.yaml") in str(err.value)
    # nothing close: the message lists the settings there are
    (tmp_path / "overcast.yaml").write_text("zzzzzz: 1\n")
    with pytest.raises(SettingsError, match="'zzzzzz'.*bus_url.*uplink_mtu"):
        load_settings(data_dir=tmp_path, environ={})


def test_yaml_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    (tmp_path / "overcast.yaml").write_text("- port\n")
    with pytest.raises(SettingsError, match="mapping"):
        load_settings(data_dir=tmp_path, environ={})


def test_unknown_override_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="'prot'.*'port'"):
        load_settings(data_dir=tmp_path, environ={}, prot=1)


def test_unknown_environment_variables_are_not_settings(tmp_path: Path) -> None:
    """OVERCAST_* variables that name no setting (the tests' own) are left alone."""
    s = load_settings(data_dir=tmp_path, environ={"OVERCAST_TEST_CACHE": "/x"})
    assert s.port == 8080


def test_uplink_mtu_from_yaml_env_and_flag(tmp_path: Path) -> None:
    assert load_settings(data_dir=tmp_path, environ={}).uplink_mtu == 1400
    (tmp_path / "overcast.yaml").write_text("uplink_mtu: 9000\n")
    assert load_settings(data_dir=tmp_path, environ={}).uplink_mtu == 9000
    env = {"OVERCAST_UPLINK_MTU": "1500"}
    assert load_settings(data_dir=tmp_path, environ=env).uplink_mtu == 1500
    assert load_settings(data_dir=tmp_path, environ=env, uplink_mtu=1450).uplink_mtu == 1450
    (tmp_path / "overcast.yaml").write_text("uplink_mtu: big\n")
    with pytest.raises(SettingsError, match="'uplink_mtu'.*number"):
        load_settings(data_dir=tmp_path, environ={})


def test_cache_dir_from_yaml_env_and_default(tmp_path: Path) -> None:
    home = Path.home()
    s = load_settings(data_dir=tmp_path, environ={})
    assert s.cache_dir == home / ".cache" / "overcast"
    assert s.guest_cache_dir == home / ".cache" / "overcast" / "guest"
    xdg = {"XDG_CACHE_HOME": str(tmp_path / "xdg")}
    assert load_settings(data_dir=tmp_path, environ=xdg).cache_dir == tmp_path / "xdg" / "overcast"
    (tmp_path / "overcast.yaml").write_text(f"cache_dir: {tmp_path / 'yaml'}\n")
    assert load_settings(data_dir=tmp_path, environ=xdg).cache_dir == tmp_path / "yaml"
    env = {**xdg, "OVERCAST_CACHE_DIR": str(tmp_path / "env")}
    assert load_settings(data_dir=tmp_path, environ=env).cache_dir == tmp_path / "env"
    assert load_settings(data_dir=tmp_path, environ={**env, "OVERCAST_CACHE_DIR": ""}
                         ).cache_dir == tmp_path / "yaml"
    flag = load_settings(data_dir=tmp_path, environ=env, cache_dir=tmp_path / "flag")
    assert flag.guest_cache_dir == tmp_path / "flag" / "guest"


def test_settings_built_directly_resolve_the_cache_dir_too() -> None:
    assert Settings().cache_dir == default_cache_dir()
    assert default_cache_dir({"OVERCAST_CACHE_DIR": "/c"}) == Path("/c")


def test_uplink_mtu_reaches_the_network_service(tmp_path: Path) -> None:
    """The setting sizes tenant networks: VXLAN ones get it less 50 bytes."""
    gen = build_cloud(tmp_path, uplink_mtu=9000)
    cloud = next(gen)
    try:
        r = cloud.client.post("/network/v2.0/networks", headers=cloud.admin(),
                              json={"network": {"name": "jumbo"}})
        assert r.status_code == 201, r.text
        assert r.json()["network"]["mtu"] == 8950
    finally:
        gen.close()


def test_the_cli_says_which_key_is_unknown(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from overcast.cli import app

    (tmp_path / "overcast.yaml").write_text("databse_url: sqlite://\n")
    result = CliRunner().invoke(app, ["init", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "'databse_url'" in result.output and "'database_url'" in result.output
    assert not (tmp_path / "overcast.db").exists()
