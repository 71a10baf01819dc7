"""pytest fixtures for a local Kinesis endpoint (registered through the `pytest11` entry
point when the shardlog wheel is installed).

- ``kinesis_endpoint``: a fresh ``shardlog serve`` per test, on a free port, with its data in
  the test's ``tmp_path``; yields the URL and stops the server after the test.
- ``kinesis_client``: a boto3 Kinesis client on ``kinesis_endpoint`` (region ``us-east-1``,
  throwaway credentials).
"""

from __future__ import annotations

import pytest

from . import ShardlogServer


@pytest.fixture
def kinesis_endpoint(tmp_path):
    """The URL of a running ``shardlog serve`` (``http://127.0.0.1:PORT``)."""
    with ShardlogServer(data_dir=tmp_path / "shardlog-data") as server:
        yield server.url


@pytest.fixture
def kinesis_client(kinesis_endpoint):
    """A boto3 Kinesis client on :func:`kinesis_endpoint`."""
    try:
        import boto3
    except ImportError:  # pragma: no cover - depends on the environment
        pytest.fail("the kinesis_client fixture needs boto3: pip install 'shardlog[boto3]'")
    return boto3.client(
        "kinesis",
        endpoint_url=kinesis_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
