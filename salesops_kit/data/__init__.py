"""Data layer: the canonical schema, mappings, readers and parsers, the loader and the audit.

Lowest floor of the kit. ``schema``, ``parse``, ``readers``, ``mapping`` and ``dataset`` import nothing
else from the kit; ``load`` assembles a :class:`~salesops_kit.data.dataset.Dataset` by handing each
table to an engine back-end (:mod:`salesops_kit.engines`), and ``audit`` reports on what was loaded.
``suggest`` drafts a mapping from a file's headers; ``synth`` generates the bundled sample company.
"""
