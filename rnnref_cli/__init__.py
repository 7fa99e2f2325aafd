"""The suite's command lines: the shared framework and the ``rnnref`` console script.

- :mod:`rnnref_cli.command`: how every command line is built (one parser class, one
  record per job, the exit codes); each package's ``cli`` module declares its jobs
  with it. Standard library only.
- :mod:`rnnref_cli.console`: the ``rnnref`` console script, every job as a subcommand.

Importing this package imports neither module.
"""
