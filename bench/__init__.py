"""Benchmarks, each measured beside its baseline in the same run (``make bench``).

Every ``bench/bench_*.py`` module has a ``main()`` that prints progress and ends with one line
per arm: ``<arm>: <rate> <unit>``. ``python -m bench`` runs them all in turn;
``python -m bench serde runtime`` runs only those.
"""
