"""cluster.yaml against Ray's own cluster-config schema."""

import re
from pathlib import Path

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

ROOT = Path(__file__).resolve().parent.parent


def load():
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


def test_cluster_yaml_validates_against_rays_schema():
    validate_config(prepare_config(load()))
    broken = load()
    broken["available_node_types"]["head"]["node_confg"] = broken["available_node_types"]["head"].pop("node_config")
    with pytest.raises(Exception, match="node_confg|node_config"):
        validate_config(prepare_config(broken))


def test_cluster_has_a_cpu_head_and_autoscaling_gpu_workers_that_install_the_package():
    config = load()
    nodes = config["available_node_types"]
    assert nodes[config["head_node_type"]]["resources"] == {"CPU": 0}
    workers = [n for name, n in nodes.items() if name != config["head_node_type"]]
    assert workers and all(w["min_workers"] == 0 < w["max_workers"] for w in workers)
    assert all(w["node_config"]["InstanceType"].startswith(("g", "p")) for w in workers)   # GPU types
    mounted = [remote for remote, local in config["file_mounts"].items() if local == "."]
    assert mounted and (ROOT / "regclip_bench" / "tasks").is_dir()   # the repository, tasks included
    assert any(f"pip install -e {mounted[0]}" in cmd for cmd in config["setup_commands"])


def test_cluster_yaml_holds_no_credentials():
    text = (ROOT / "cluster.yaml").read_text()
    for pattern in (r"AKIA[0-9A-Z]{16}", r"aws_secret_access_key", r"aws_access_key_id",
                    r"ssh_private_key\s*:", r"BEGIN [A-Z ]*PRIVATE KEY"):
        assert not re.search(pattern, text, re.IGNORECASE), pattern


def test_the_dashboard_listens_on_the_heads_loopback_and_every_port_is_fixed():
    config = load()
    head = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head and "0.0.0.0" not in yaml.safe_dump(config)
    ports = ("--object-manager-port", "--node-manager-port", "--dashboard-agent-grpc-port",
             "--dashboard-agent-listen-port", "--metrics-export-port", "--runtime-env-agent-port",
             "--min-worker-port", "--max-worker-port")
    for command in (head, " ".join(config["worker_start_ray_commands"])):
        assert all(re.search(rf"{p}=\d+", command) for p in ports), command
