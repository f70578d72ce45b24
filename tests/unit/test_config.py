"""Settings precedence: defaults < overcast.yaml < OVERCAST_* < overrides."""

from pathlib import Path

from overcast.config import load_settings


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
