"""Framing, handshake digest, socket paths and discovery (no node needed)."""
import os
import socket

import pytest

from beamish.observer import EndpointError, NodeNotFound, ObserverProtocolError, find_node
from beamish.observer._paths import local_nodes, node_label, socket_path
from beamish.observer._wire import (HELLO_TAG, FrameReader, digest, frame, hello,
                                    hello_matches)


def test_frames_reassemble_from_any_split():
    data = frame(b"hello") + frame(b"") + frame(b"x" * 300)
    for cut in range(len(data) + 1):
        r = FrameReader(1000)
        assert r.feed(data[:cut]) + r.feed(data[cut:]) == [b"hello", b"", b"x" * 300]
        assert r.pending == 0


def test_an_oversized_frame_is_refused_from_its_header():
    with pytest.raises(ObserverProtocolError, match="exceeds the limit of 10"):
        FrameReader(10).feed(frame(b"x" * 11)[:4])


def test_the_digest_depends_on_cookie_and_challenge():
    assert digest("a", b"c") == digest("a", b"c")
    assert digest("a", b"c") != digest("b", b"c") != digest("a", b"d")


def test_the_hello_is_compared_as_bytes_never_decoded():
    assert hello("a", b"c") == HELLO_TAG + digest("a", b"c")
    assert hello_matches(hello("a", b"c"), "a", b"c")
    assert hello_matches(memoryview(hello("a", b"c")), "a", b"c")
    for wrong in (hello("b", b"c"), hello("a", b"d"), digest("a", b"c"), b"",
                  hello("a", b"c") + b"x", b"\xc7\x01\x03" * 300):
        assert not hello_matches(wrong, "a", b"c")


def test_default_named_nodes_get_the_os_pid_in_their_label():
    assert node_label("demo@host") == "demo@host"
    assert node_label("nonode@nohost", 42) == "nonode@nohost-42"


def test_socket_paths_refuse_bad_names_and_long_paths(tmp_path):
    with pytest.raises(EndpointError):
        socket_path("../evil", str(tmp_path))
    with pytest.raises(EndpointError, match="longer than a Unix socket allows"):
        socket_path("n" * 120, "/tmp")


def _listen(d, label):
    s = socket.socket(socket.AF_UNIX)
    s.bind(socket_path(label, d))
    s.listen(16)   # nobody accepts: the probes queue up
    return s


def test_discovery_by_full_name_short_name_and_the_only_node(observer_dirs):
    d = os.environ["BEAMISH_RUNTIME_DIR"]
    os.makedirs(d)
    with pytest.raises(NodeNotFound, match="no local node running"):
        find_node()
    a = _listen(d, "alpha@host")
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(socket_path("stale@host", d))
    dead.close()
    try:
        assert find_node() == socket_path("alpha@host", d), "the stale socket is skipped"
        b = _listen(d, "beta@host")
        try:
            assert find_node("beta") == socket_path("beta@host", d)
            assert find_node("alpha@host") == socket_path("alpha@host", d)
            with pytest.raises(NodeNotFound, match="several local nodes running"):
                find_node()
            with pytest.raises(NodeNotFound, match="no local node named 'gamma'"):
                find_node("gamma")
        finally:
            b.close()
    finally:
        a.close()
    assert local_nodes(d) == ["alpha@host", "beta@host", "stale@host"]
