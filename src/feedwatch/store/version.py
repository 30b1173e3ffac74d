"""The schema's version, kept in the file's user_version: the store migrates (schema.py)
only a file that does not carry this one. Each migration at the end of schema.py adds one."""

SCHEMA_VERSION = 5
