"""The service runtime: handlers in, delivery guarantees, retries, dead letters and audit out.

``handlers`` (declaring what a service does), ``consumer`` (the loop), ``producer`` (no-loss
producing, confirm within a budget), ``retry`` (bounded backoff), ``dlq`` (dead-letter records),
``idempotency`` (handled event ids shared by replicas), ``audit`` (ProcessingRecords),
``hooks`` (metrics/health/audit fan-out), ``codec`` (bytes ⇄ events).
"""

from bus.runtime.consumer import ConsumerLoop, LoopOptions
from bus.runtime.handlers import Context, HandlerRegistry, Output
from bus.runtime.producer import BusProducer
from bus.runtime.retry import RetryPolicy

__all__ = ["BusProducer", "ConsumerLoop", "Context", "HandlerRegistry", "LoopOptions", "Output",
           "RetryPolicy"]
