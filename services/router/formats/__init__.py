"""Record formats the router reads and writes.

``csv`` (safe against formula injection, optional UTF-8 BOM), ``xml`` (defusedxml on input),
``json``, ``avro_json`` (JSON-shaped values ⇄ Avro-typed values of a schema), ``cxml`` (the
cXML OrderRequest an ERP accepts). Avro itself is the runtime's codec (``bus.serde``).

Every reader raises :class:`~bus.errors.FormatError` (an InvalidInput, so a 400 at an HTTP edge
and a permanent failure elsewhere) saying why a document cannot be read.
"""
