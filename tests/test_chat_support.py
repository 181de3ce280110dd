"""Start apps.chat inside the test process (one node, short presence timings)."""
import argparse
import dataclasses


def start_chat(*args, port=0):
    """``(supervisor pid, port)`` of a running apps.chat tree."""
    import apps.chat as app
    from beamish import Supervisor
    parser = argparse.ArgumentParser()
    app.add_arguments(parser)
    config = parser.parse_args(["--port", str(port), "--presence-period", "0.05",
                                "--secret", "test-secret", *args])
    config.node = "chat@test"
    ports = []
    specs = app.children(config)
    endpoint = specs[-1]
    specs[-1] = dataclasses.replace(endpoint, kwargs={**endpoint.kwargs,
                                                      "on_ready": ports.append})
    sup = Supervisor.start(specs)
    return sup, ports[0]
