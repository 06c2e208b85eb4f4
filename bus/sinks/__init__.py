"""Coalescing, batching sinks: many inputs in, few writes out, inputs released only once written.

The contract, shared by crm-updater's contact flusher, inventory-sync's storefront pusher and
the router's ``file_out`` batches:

* **Coalesced**: a batch keeps one entry per key, the newest (a later entry of a key replaces
  the earlier one in place; keys keep the order they first arrived in).
* **When a batch goes out**: once it holds ``size`` entries (or entries of that total weight,
  e.g. rows), or once its oldest entry has waited ``linger`` seconds (a clock is injectable);
  and whenever its owner flushes (revocation, shutdown).
* **When inputs are released** (offsets committed, a spool emptied): only after the writer
  returned and what it set aside was durably set aside (dead letters acknowledged).
* **Transient failure**: the writer raises (or a dead letter is not acknowledged): the whole
  batch stays, unreleased, and is written again.
* **Permanent failure**: the writer sets aside only the failing entries (to the DLQ); the rest
  of the batch counts as written.
* **Crash**: everything not released is replayed (Kafka redelivers after the last commit; a
  spool is read back), so writers must be idempotent.

:mod:`bus.sinks.batch` is the mechanism itself (:class:`CoalescingBatch`, :class:`Sink`,
:class:`SetAside`); :mod:`bus.sinks.topic` runs it over a Kafka topic (:class:`TopicSink`,
reading the :class:`Feed` it is given).
"""

from bus.sinks.batch import CoalescingBatch, SetAside, Sink
from bus.sinks.topic import Feed, TopicSink

__all__ = ["CoalescingBatch", "Feed", "SetAside", "Sink", "TopicSink"]
