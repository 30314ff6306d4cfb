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


def test_every_node_boots_an_image_with_a_python_this_package_runs_on():
    """Without an ImageId Ray 2.58 falls back to an Ubuntu 18.04 / Python 3.7 DLAMI; cluster.yaml names
    AWS's Ubuntu 24.04 GPU base image (Python 3.12) through its SSM parameter, and Ray keeps it."""
    from ray.autoscaler._private.aws.config import DEFAULT_AMI, _check_ami
    config = prepare_config(load())
    images = {name: node["node_config"]["ImageId"] for name, node in config["available_node_types"].items()}
    assert set(images.values()) == {"resolve:ssm:/aws/service/deeplearning/ami/x86_64/"
                                    "base-oss-nvidia-driver-gpu-ubuntu-24.04/latest/ami-id"}
    _check_ami(config)                                   # what `ray up` does with it
    assert {name: node["node_config"]["ImageId"] for name, node in config["available_node_types"].items()} == images
    bare = prepare_config(load())
    for node in bare["available_node_types"].values():
        node["node_config"].pop("ImageId")
    _check_ami(bare)                                     # ... and without it: the old default
    assert bare["available_node_types"]["head"]["node_config"]["ImageId"] == DEFAULT_AMI["us-west-2"]
    # Ubuntu 24.04's Python is externally managed (PEP 668): the package goes into a venv on PATH
    setup = "\n".join(config["setup_commands"])
    assert "python3 -m venv ~/venv" in setup and "~/venv/bin/python -m pip install -e" in setup
    assert 'export PATH="$HOME/venv/bin:$PATH"' in setup and ">> ~/.bashrc" in setup


def test_workers_get_an_instance_profile_the_head_may_pass_and_write_only_the_bucket():
    """Ray's default profile goes to the head alone (so GPU workers could not write to s3://); the two
    profiles cluster.yaml names are those aws/make-profiles.sh creates, with the policies in aws/."""
    import json
    from ray.autoscaler._private.aws.config import _configure_iam_role
    config = prepare_config(load())
    nodes = config["available_node_types"]
    head = nodes[config["head_node_type"]]["node_config"]["IamInstanceProfile"]["Name"]
    workers = {n["node_config"]["IamInstanceProfile"]["Name"] for k, n in nodes.items() if k != config["head_node_type"]}
    assert (head, workers) == ("regclip-bench-head", {"regclip-bench-worker"})
    assert _configure_iam_role(config) is config         # the head's comes from the file, no default made
    script = (ROOT / "aws" / "make-profiles.sh").read_text()
    assert 'name="regclip-bench-$who"' in script and "for who in head worker" in script
    policies = {who: json.loads((ROOT / "aws" / f"{who}-policy.json").read_text()) for who in ("head", "worker")}
    json.loads((ROOT / "aws" / "trust.json").read_text())
    passed = [s for s in policies["head"]["Statement"] if s["Action"] == "iam:PassRole"]
    assert [s["Resource"] for s in passed] == ["arn:aws:iam::*:role/regclip-bench-worker"]
    for statement in policies["worker"]["Statement"]:
        actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        assert all(a.startswith("s3:") for a in actions) and "*" not in "".join(actions)
        assert statement["Resource"] in ("arn:aws:s3:::BUCKET", "arn:aws:s3:::BUCKET/*")
