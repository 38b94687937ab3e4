"""gunicorn settings for the collab service (port 8082): gevent workers, no preload.

Every setting and hook is shared by the four services and explained in `ades.launch`:
bind (service port + metrics port), workers from GAIT_WORKERS, worker_tmp_dir=/dev/shm,
graceful_timeout, JSON logconfig_dict, on_starting (empties PROMETHEUS_MULTIPROC_DIR) and
child_exit (marks a dead worker's metrics). Run from anywhere:
`gunicorn -c services/collab/gunicorn.conf.py`.
"""

from pathlib import Path


def _settings() -> dict:
    # Imported here rather than at the top: gunicorn's master reads this file, and nothing
    # it imports may load psycopg before a gevent worker has patched the standard library.
    from ades.launch import gunicorn_settings

    return gunicorn_settings("collab", default_port=8082, root=Path(__file__).resolve().parents[2])


globals().update(_settings())


def post_worker_init(worker):
    """Close this worker's websockets with a reconnect notice when it gets SIGTERM."""
    from services.collab.live import install_sigterm_handler

    install_sigterm_handler(worker)
