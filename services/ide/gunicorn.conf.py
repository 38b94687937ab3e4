"""gunicorn settings for the ide service (port 8081): gevent workers, no preload.

Every setting and hook is shared by the four services and explained in `ades.launch`:
bind (service port + metrics port), workers from GAIT_WORKERS, worker_tmp_dir=/dev/shm,
graceful_timeout, JSON logconfig_dict, on_starting (empties PROMETHEUS_MULTIPROC_DIR) and
child_exit (marks a dead worker's metrics). Run from anywhere:
`gunicorn -c services/ide/gunicorn.conf.py`.
"""

from pathlib import Path


def _settings() -> dict:
    # Imported here rather than at the top: gunicorn's master reads this file, and nothing
    # it imports may load psycopg before a gevent worker has patched the standard library.
    from ades.launch import gunicorn_settings

    return gunicorn_settings("ide", default_port=8081, root=Path(__file__).resolve().parents[2])


globals().update(_settings())
