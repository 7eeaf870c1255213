"""One package per domain; the ones that are platform layers, in the order availability lists them.

Each package in ``LAYER_DOMAINS`` declares ``LAYER`` (core.layers.Layer) in its
``__init__.py`` and its settings in ``settings.py``; settings.py, ``__main__.py``, platform
availability, the dashboards' optional rows and the tests derive from this list.
"""

LAYER_DOMAINS = ("spark", "airflow", "trino", "iceberg", "storage", "gitops", "hive", "ceph", "oracle", "powerscale", "bitbucket")
