"""Event contracts: the Avro schemas in ``schemas/``, the topic table, and Python models.

* :mod:`bus.contracts.schemas` loads and expands the ``.avsc`` files.
* :mod:`bus.contracts.catalog` maps topics to events and subjects.
* :mod:`bus.contracts.models` holds one dataclass per named type, generated from the schemas
  by :mod:`bus.contracts.codegen` (a unit test fails when they drift apart).
"""

from bus.contracts.catalog import COMPATIBILITY, TOPIC_EVENTS, event_for, schema_for_topic, subject_for
from bus.contracts.schemas import SCHEMAS_DIR, SchemaSet, default_schema_set, read_schema_files

__all__ = [
    "COMPATIBILITY",
    "SCHEMAS_DIR",
    "TOPIC_EVENTS",
    "SchemaSet",
    "default_schema_set",
    "event_for",
    "read_schema_files",
    "schema_for_topic",
    "subject_for",
]
