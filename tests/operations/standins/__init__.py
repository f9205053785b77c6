"""Stand-ins for the external programs the operator tools run (`pulumi`, `kubectl`), for tests.

A stand-in reproduces the real program's contract at the pinned version: exit codes, `--json`
shapes, file layouts and the messages the operator code or the operator reads. Each behaviour is
cited beside it (repository, file, tag) in its module (`pulumi.py`, ...).
"""
