"""The endpoint's sockets request (real loopback sockets of this node) and
its open files against the limit."""
import resource
import socket

import gevent
from gevent import socket as gsocket


def test_sockets_lists_peers_and_bytes_and_node_info_counts_open_files(endpoint):
    listener = gsocket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    client = gsocket.create_connection(("127.0.0.1", port))
    server, _ = listener.accept()
    try:
        client.sendall(b"x" * 5000)
        got = 0
        while got < 5000:
            got += len(server.recv(65536))
        gevent.sleep(0.05)
        with endpoint.client() as c:
            rows = c.sockets()
            info = c.node_info()
        ours = [r for r in rows if r.local == f"127.0.0.1:{port}"]
        assert {r.status for r in ours} == {"LISTEN", "ESTABLISHED"}
        accepted = next(r for r in ours if r.status == "ESTABLISHED")
        assert accepted.peer == "127.0.0.1:%d" % client.getsockname()[1]
        assert accepted.bytes_in == 5000 and accepted.age >= 0
        sender = next(r for r in rows if r.peer == f"127.0.0.1:{port}")
        assert sender.bytes_out == 5000
        assert rows.index(sender) < rows.index(next(r for r in ours if r.status == "LISTEN"))
        assert info.open_files >= 4
        assert info.open_files_limit == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    finally:
        for s in (client, server, listener):
            s.close()
