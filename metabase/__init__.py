"""Metabase provisioned from code: the QBank collection, native-SQL cards over the marts and a
dashboard laying them out, created or updated in place through Metabase's REST API.

`python -m metabase.provision` (or `make metabase`); see `provision.py` for the configuration.
"""
