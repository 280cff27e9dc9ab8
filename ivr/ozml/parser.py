"""Safe OzML parsing: bytes in, a normalised, validated element tree plus warnings out. No I/O.

Safety: any DOCTYPE is refused before lxml sees the bytes (no entity expansion, no billion
laughs, no XXE), lxml itself runs with ``resolve_entities=False, no_network=True,
load_dtd=False``, and documents larger than ``max_bytes`` are refused unread.

Names are matched case-insensitively, as Ozeki's own examples mix ``<speak>``/``<Speak>``,
and rewritten to the schema's spelling. Unknown elements are errors (with "did you mean");
unknown attributes are warnings and are dropped, like Twilio's 12200. Commands Ozeki
documents but ivr cannot carry out become ``<Unsupported Name=…>``: a warning, and skipped at
run time, never the end of the script.

Validation: ``schema.rng`` stays the one list of names, but it is compiled once into a table
(element -> allowed children, text allowed, required attributes) and checked in the same pass
that normalises names. libxml2's RELAX NG validator cost more than the parse itself on every
new document; the table check is a dictionary lookup per element. Warnings are capped
(``MAX_WARNINGS`` located ones, then one summary), so a hostile document full of unknown
attributes costs time linear in its size.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources

from lxml import etree

from ivr.errors import OzmlError
from ivr.ozml.diagnostics import Diagnostic

__all__ = ["ParsedDocument", "parse_document", "schema_names", "ATTRIBUTE_ALIASES",
           "UNSUPPORTED", "MAX_WARNINGS", "RAW_TAG"]

_RNG = "{http://relaxng.org/ns/structure/1.0}"
RAW_TAG = "{urn:ivr}raw-tag"
MAX_WARNINGS = 50

# One alias table for spellings found in the wild (seed 004's table says DelivaryReportURL).
ATTRIBUTE_ALIASES: dict[str, str] = {
    "delivaryreporturl": "DeliveryReportURL",
    "numdigits": "Digits",
    "finishonkeys": "FinishOnKey",
    "seconds": "Time",            # ivr 0.1 wrote <Delay Seconds=…>; Ozeki writes Time
    "filename": "File",
    "path": "File",
}

# Commands on Ozeki's list (seed 004, p_4254, p_4698) that ivr does not carry out, and why.
# They are warned about by lint and skipped at run time; they never end a script.
UNSUPPORTED: dict[str, tuple[str, str]] = {
    name.lower(): (name, reason) for name, reason in [
        ("Route", "it answers Ozeki's RoutingInterception notification (p_4594), which only "
                  "a PBX routing its own extensions sends; use <BlindTransfer> on a call"),
        ("CallSetup", "it joins two new calls to each other (p_7666); ivr places calls "
                      "(<Call>) but does not bridge two of them"),
        ("SendMessage", "it addresses Ozeki's message connections, which ivr does not have; "
                        "use <SendMsg> (SIP MESSAGE to the caller) or <SendSms>"),
        ("ReceiveMessage", "ivr has no message connections to receive from; use <WaitForMsg>"),
    ]
}

_DOCTYPE = re.compile(rb"<!\s*DOCTYPE", re.IGNORECASE)
_ENTITY = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)


@dataclass
class ParsedDocument:
    root: etree._Element
    source: str
    data: bytes
    warnings: list[Diagnostic] = field(default_factory=list)

    @cached_property
    def lines(self) -> list[str]:
        """The text's lines, decoded only when something must be located."""
        return self.data.decode("utf-8", errors="replace").splitlines()

    def locate(self, element: etree._Element, needle: str = "") -> tuple[int, int]:
        """(line, column) of ``element`` (or of ``needle`` on its line, e.g. an attribute).

        It scans the element's line only, never the document: callers locate errors and a
        capped number of warnings, so locating stays linear in the document's size.
        """
        line = element.sourceline or 0
        parent = element.getparent()
        siblings = list(parent) if parent is not None else [element]
        occurrence = sum(1 for e in siblings[:siblings.index(element)]
                         if e.sourceline == line and e.tag == element.tag)
        if occurrence == 0 and parent is not None and parent.sourceline == line \
                and parent.tag == element.tag:
            occurrence = 1
        return _locate(self.lines, element, needle, occurrence)


def _locate(lines: list[str], element: etree._Element, needle: str = "",
            occurrence: int = 0) -> tuple[int, int]:
    line = element.sourceline or 0
    if not 0 < line <= len(lines):
        return line, 0
    text = lines[line - 1]
    raw_tag = element.get(RAW_TAG) or str(element.tag)
    col = -1
    for count, match in enumerate(re.finditer(f"<{re.escape(raw_tag)}(?=[\\s/>]|$)", text,
                                              re.IGNORECASE)):
        col = match.start()
        if count >= occurrence:
            break
    if needle:
        found = text.lower().find(needle.lower(), max(col, 0))
        col = found if found >= 0 else col
    return line, col + 1 if col >= 0 else 0


@dataclass(frozen=True)
class _Model:
    """What the schema allows inside one element."""

    name: str
    attributes: dict[str, str]         # lower-case -> canonical
    required: tuple[str, ...]
    children: frozenset[str]
    text: bool


def _compile(grammar: etree._Element) -> dict[str, _Model]:
    defines = {d.get("name", ""): d for d in grammar.iter(f"{_RNG}define")}
    models: dict[str, _Model] = {}

    def content(node: etree._Element, seen: frozenset[str]) -> tuple[set[str], bool]:
        """Child element names reachable in ``node`` (not inside them) and whether text is."""
        names: set[str] = set()
        text = False
        for child in node:
            if child.tag == f"{_RNG}element":
                names.add(child.get("name", ""))
            elif child.tag == f"{_RNG}ref":
                ref = child.get("name", "")
                if ref not in seen:
                    more, more_text = content(defines[ref], seen | {ref})
                    names |= more
                    text = text or more_text
            elif child.tag == f"{_RNG}text":
                text = True
            elif child.tag != f"{_RNG}attribute":
                more, more_text = content(child, seen)
                names |= more
                text = text or more_text
        return names, text

    for element in grammar.iter(f"{_RNG}element"):
        attrs: dict[str, str] = {}
        required: list[str] = []
        stack = [(child, False) for child in element]
        while stack:  # attributes of this element only, not of nested elements
            node, optional = stack.pop()
            if node.tag == f"{_RNG}element":
                continue
            if node.tag == f"{_RNG}attribute":
                attrs[node.get("name", "").lower()] = node.get("name", "")
                if not optional:
                    required.append(node.get("name", ""))
                continue
            if node.tag == f"{_RNG}ref":
                target = defines[node.get("name", "")]
                if any(c.tag == f"{_RNG}attribute" for c in target.iter()):
                    stack.extend((c, optional) for c in target)
                continue
            inner = optional or node.tag in (f"{_RNG}optional", f"{_RNG}zeroOrMore")
            stack.extend((c, inner) for c in node)
        children, text = content(element, frozenset())
        name = element.get("name", "")
        models[name.lower()] = _Model(name, attrs, tuple(sorted(required)),
                                      frozenset(children), text)
    return models


@lru_cache(maxsize=1)
def _schema() -> dict[str, _Model]:
    data = resources.files("ivr.ozml").joinpath("schema.rng").read_bytes()
    return _compile(etree.fromstring(data))


def schema_names() -> dict[str, tuple[str, dict[str, str]]]:
    """lower-case element name -> (canonical name, {lower-case attr: canonical attr})."""
    return {key: (model.name, model.attributes) for key, model in _schema().items()}


def _did_you_mean(word: str, choices: list[str]) -> str:
    match = difflib.get_close_matches(word.lower(), [c.lower() for c in choices], n=1, cutoff=0.6)
    if not match:
        return ""
    canonical = {c.lower(): c for c in choices}[match[0]]
    return f" (did you mean <{canonical}>?)"


def _syntax_error(exc: etree.XMLSyntaxError, source: str) -> OzmlError:
    line, col = exc.position if exc.position else (exc.lineno or 0, 0)
    message = (exc.msg or str(exc)).split(", line ")[0].splitlines()[0].rstrip(": <!-")
    return OzmlError(f"XML parse error: {message}", line, col, source)


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          dtd_validation=False, huge_tree=False, remove_comments=True,
                          remove_pis=True)


def parse_document(data: bytes | str, source: str = "<string>",
                   max_bytes: int = 1_000_000) -> ParsedDocument:
    """Parse and validate one OzML document; raises OzmlError at the first error."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise OzmlError(f"document is {len(raw)} bytes, over the {max_bytes}-byte limit",
                        0, 0, source)
    for pattern, what in ((_DOCTYPE, "DOCTYPE declarations"), (_ENTITY, "entity declarations")):
        found = pattern.search(raw)
        if found:
            line = raw.count(b"\n", 0, found.start()) + 1
            col = found.start() - (raw.rfind(b"\n", 0, found.start()) + 1) + 1
            raise OzmlError(f"{what} are not allowed in OzML (no DTDs, no entities)",
                            line, col, source)
    stripped = raw.lstrip()
    if not stripped:
        raise OzmlError("empty document: expected <Response>", 1, 1, source)
    try:
        root = etree.fromstring(stripped, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, source) from None
    # lstrip() above tolerates leading blank lines (Twilio 12100's most common cause) but
    # would shift line numbers; count them back in.
    leading = raw[: len(raw) - len(stripped)].count(b"\n")
    document = ParsedDocument(root=root, source=source, data=raw)
    if leading:
        for element in root.iter():
            if isinstance(element.tag, str) and element.sourceline:
                element.sourceline += leading
    _Walker(document).walk()
    return document


class _Walker:
    """One pass: normalise names, check nesting/text/required attributes, collect warnings."""

    def __init__(self, document: ParsedDocument) -> None:
        self.doc = document
        self.models = _schema()
        self.dropped = 0   # unknown attributes beyond MAX_WARNINGS

    def error(self, element: etree._Element, message: str, needle: str = "") -> OzmlError:
        line, col = self.doc.locate(element, needle)
        return OzmlError(message, line, col, self.doc.source)

    def warn(self, element: etree._Element, message: str, needle: str = "") -> None:
        if len(self.doc.warnings) >= MAX_WARNINGS:
            self.dropped += 1
            return
        line, col = self.doc.locate(element, needle)
        self.doc.warnings.append(Diagnostic("warning", message, line, col, self.doc.source))

    def walk(self) -> None:
        root = self.doc.root
        if not isinstance(root.tag, str) or root.tag.lower() != "response" or \
                etree.QName(root).namespace:
            raise OzmlError(f"the root element must be <Response>, not <{root.tag}>", 1, 1,
                            self.doc.source)
        self.element(root, None)
        if len(root) == 0:
            raise OzmlError("<Response> is empty: a script needs at least one command",
                            root.sourceline or 1, 1, self.doc.source)
        top = self.models["response"]
        stack = [(child, top) for child in reversed(root)]
        while stack:
            element, parent = stack.pop()
            model = self.element(element, parent)
            if model is not None and len(element):
                stack.extend((child, model) for child in reversed(element))
        if self.dropped:
            self.doc.warnings.append(Diagnostic(
                "warning", f"{self.dropped} more unknown attributes were ignored (only the "
                f"first {MAX_WARNINGS} warnings are listed)", 0, 0, self.doc.source))

    def element(self, element: etree._Element, parent: _Model | None) -> _Model | None:
        """Normalise and check one element; its model, or None when its children are gone."""
        tag = element.tag
        assert isinstance(tag, str)
        if tag[0] == "{":
            raise self.error(element, f"<{etree.QName(element).localname}>: namespaces are "
                             "not used in OzML")
        lower = tag.lower()
        model = self.models.get(lower)
        if model is None:
            unsupported = UNSUPPORTED.get(lower)
            if unsupported is None:
                names = [m.name for m in self.models.values()]
                raise self.error(element, f"unknown command <{tag}>{_did_you_mean(tag, names)}")
            self.unsupported(element, *unsupported, parent)
            return None
        if parent is not None and model.name not in parent.children:
            where = (f"<{parent.name}> cannot contain <{model.name}>" if parent.children
                     else f"<{model.name}> is not allowed inside <{parent.name}>")
            raise self.error(element, where)
        if tag != model.name:
            element.tag = model.name
            element.set(RAW_TAG, tag)
        if element.attrib:
            self.attributes(element, model)
        for name in model.required:
            if name not in element.attrib:
                raise self.error(element, f"<{model.name}> is missing a required attribute: "
                                 f"{name}")
        if not model.text:
            if element.text and element.text.strip() or any(
                    child.tail and child.tail.strip() for child in element):
                raise self.error(element, f"<{model.name}> cannot contain text")
        return model

    def attributes(self, element: etree._Element, model: _Model) -> None:
        known_attrs = model.attributes
        for attr in list(element.attrib):
            name = str(attr)
            if name == RAW_TAG:
                continue
            target = known_attrs.get(name.lower())
            if target is None:
                alias = ATTRIBUTE_ALIASES.get(name.lower())
                target = alias if alias and alias.lower() in known_attrs else None
            if target is None:
                value = element.attrib.pop(attr)
                if len(self.doc.warnings) < MAX_WARNINGS:
                    known = ", ".join(sorted(known_attrs.values())) or "none"
                    self.warn(element, f"<{model.name}> has no attribute {name!r} (ignored; "
                              f"value {value!r}; known: {known})", name)
                else:
                    self.dropped += 1
                continue
            if target != name:
                if target in element.attrib:
                    raise self.error(element, f"<{model.name}> gives {target} twice (as "
                                     f"{name!r})", name)
                element.attrib[target] = element.attrib.pop(attr)

    def unsupported(self, element: etree._Element, name: str, reason: str,
                    parent: _Model | None) -> None:
        if parent is not None and "Unsupported" not in parent.children:
            raise self.error(element, f"<{parent.name}> cannot contain <{name}>")
        self.warn(element, f"Ozeki command {name} is not supported by ivr: {reason} "
                  "(skipped when the script runs)")
        raw = str(element.tag)
        tail = element.tail
        element.clear()
        element.tail = tail
        element.tag = "Unsupported"
        element.set("Name", name)
        element.set(RAW_TAG, raw)
