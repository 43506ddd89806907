"""YAML for the project's configuration files (promotions, template libraries, catalog mappings).

`load_yaml_strict` is PyYAML's SafeLoader with two refusals: duplicate mapping keys (PyYAML silently keeps the
last one) and more than `MAX_ALIASES` alias references. Aliases are shared, not copied, while parsing, but any
code that walks or prints the result expands them: a few lines of nested aliases ("billion laughs") become
gigabytes. Real configuration needs a handful of anchors at most. `short_repr` bounds how much of a value an
error message quotes.
"""
from __future__ import annotations

from typing import Any

import yaml

MAX_ALIASES = 100
MAX_QUOTED_CHARS = 80


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys and caps alias references."""

    def __init__(self, stream):
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None, None, f"more than {MAX_ALIASES} alias references (*name): refused, as an alias-expansion "
                    "bomb would be", event.start_mark,
                )
        return super().compose_node(parent, index)


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    result: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, "found an unhashable key", key_node.start_mark
            ) from None
        if key in result:
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark, f"found duplicate key {short_repr(key)}",
                key_node.start_mark,
            )
        result[key] = loader.construct_object(value_node, deep=deep)
    return result


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load_yaml_strict(text: str) -> Any:
    """Parse YAML with duplicate keys and alias bombs refused."""
    return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader


def short_repr(value: Any, limit: int = MAX_QUOTED_CHARS) -> str:
    """`repr(value)` cut to `limit` characters, without ever building the whole repr of a huge nested value."""
    import reprlib

    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxdict, r.maxtuple, r.maxset, r.maxstring, r.maxother = 3, 6, 6, 6, 6, limit, limit
    text = r.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
