"""The chaos suite: the whole bus under load and faults, and what survives (``ecombus chaos``).

Modules, in the order a run uses them:

* ``plan``: the seeded fault schedule (and explicit ``--fault`` specs);
* ``testbed``: Kafka, registry, simulators and every service replica (``brokers``, ``fleet``,
  ``balancer``);
* ``traffic``: orders and parcels at a steady rate, retried as platforms retry;
* ``faults``: doing each fault, undoing it, timing the recovery;
* ``evidence`` and ``invariants``: reading the topics and the simulators back, and judging them;
* ``report``: the table; ``runner``: the whole run; ``cli``: ``ecombus chaos``;
* ``mutations`` and ``mutant``: deliberate bugs for the mutation checks.

docs/operations.md describes what each fault does and the figures of a full run.
"""
