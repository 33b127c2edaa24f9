"""Shared parts of the benchmark scripts: the machine description and the results file
(results.py), the switches under test (targets.py), the controller and its VMs (nve.py), the
command line every script shares (cli.py) and small statistics (stats.py)."""
