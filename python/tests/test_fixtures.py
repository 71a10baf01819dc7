"""The installed wheel: its binary, its fixtures, and ShardlogServer (run by
scripts/python-wheel.sh in a fresh virtual environment)."""

import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import shardlog


def test_the_wheel_installed_the_binary_into_this_environment():
    assert Path(sys.prefix) in Path(shardlog.__file__).resolve().parents, "the installed package, not the source tree"
    exe = shardlog.binary()
    assert Path(sys.prefix) in exe.resolve().parents, exe
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("shardlog "), out.stdout


def test_kinesis_endpoint_is_a_healthy_local_url(kinesis_endpoint):
    assert kinesis_endpoint.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(kinesis_endpoint + "/healthcheck") as resp:
        assert resp.status == 200
        assert json.loads(resp.read()) == {"status": "ok"}


def test_kinesis_client_puts_and_gets(kinesis_client):
    kinesis_client.create_stream(StreamName="orders", ShardCount=2)
    put = kinesis_client.put_record(StreamName="orders", PartitionKey="customer-42", Data=b'{"total": 12}')
    it = kinesis_client.get_shard_iterator(
        StreamName="orders", ShardId=put["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    records = kinesis_client.get_records(ShardIterator=it)["Records"]
    assert [r["Data"] for r in records] == [b'{"total": 12}']
    assert records[0]["SequenceNumber"] == put["SequenceNumber"]


def test_every_test_gets_a_fresh_endpoint(kinesis_client):
    assert kinesis_client.list_streams()["StreamNames"] == []


def test_shardlog_server_creates_start_up_streams_and_stops(tmp_path):
    with shardlog.ShardlogServer(data_dir=tmp_path / "d", create_streams=["orders:3", "events:on-demand"]) as s:
        port = int(s.url.rsplit(":", 1)[1])
        import boto3

        k = boto3.client(
            "kinesis", endpoint_url=s.url, region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
        )
        summary = k.describe_stream_summary(StreamName="orders")["StreamDescriptionSummary"]
        assert summary["OpenShardCount"] == 3
        events = k.describe_stream_summary(StreamName="events")["StreamDescriptionSummary"]
        assert events["StreamModeDetails"]["StreamMode"] == "ON_DEMAND"
    # Stopped: the port is closed and the data stays in the given directory.
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    assert (tmp_path / "d" / "MANIFEST").exists()
