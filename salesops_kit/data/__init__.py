"""Data layer: the canonical schema, mappings, readers and parsers, the loader and the audit.

Lowest floor of the kit. ``schema``, ``parse``, ``readers``, ``mapping`` (a mapping parsed once into a
typed :class:`~salesops_kit.data.mapping.Mapping`) and ``dataset`` import nothing from the kit but its
error types (``tools``); ``load`` finds each table's files, hands them to an engine back-end
(:func:`salesops_kit.engines.backend`) and assembles the :class:`~salesops_kit.data.dataset.Dataset`;
``audit`` reports on what was loaded.
``suggest`` drafts a mapping from a file's headers; ``synth`` generates the bundled sample company.
"""
