"""The collab service's WSGI entry point, and the only module-level app object.

gunicorn imports it in each worker after the fork (no preload), so the app, its pool and
its metrics are created per worker: `gunicorn -c services/collab/gunicorn.conf.py`.
"""

from services.collab import create_app

app = create_app()
