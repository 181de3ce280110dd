"""``python -m tests.otp.slow_spawn DELAY ARGS...``: the ``beamish`` command
with every worker's start delayed by DELAY seconds, as on a loaded machine,
so a test can signal a master while its workers are still starting."""
import sys

from gevent import monkey

monkey.patch_all()

import gevent  # noqa: E402
import gevent.subprocess  # noqa: E402

from beamish.cli import main  # noqa: E402

_popen = gevent.subprocess.Popen


def _slow_popen(*args, **kwargs):
    gevent.sleep(DELAY)
    return _popen(*args, **kwargs)


if __name__ == "__main__":
    DELAY = float(sys.argv[1])
    gevent.subprocess.Popen = _slow_popen
    sys.exit(main(sys.argv[2:]))
