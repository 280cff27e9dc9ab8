"""Safe OzML parsing: bytes in, a normalised element tree plus warnings out. No I/O.

Safety: any DOCTYPE is refused before lxml sees the bytes (no entity expansion, no billion
laughs, no XXE), lxml itself runs with ``resolve_entities=False, no_network=True,
load_dtd=False``, and documents larger than ``max_bytes`` are refused unread.

Names are matched case-insensitively, as Ozeki's own examples mix ``<speak>``/``<Speak>``,
and rewritten to the schema's spelling. Unknown elements are errors (with "did you mean");
unknown attributes are warnings and are dropped, like Twilio's 12200.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from lxml import etree

from ivr.errors import OzmlError
from ivr.ozml.diagnostics import Diagnostic

__all__ = ["ParsedDocument", "parse_document", "schema_names", "ATTRIBUTE_ALIASES"]

_RNG = "{http://relaxng.org/ns/structure/1.0}"

# One alias table for spellings found in the wild (seed 004's table says DelivaryReportURL).
ATTRIBUTE_ALIASES: dict[str, str] = {
    "delivaryreporturl": "DeliveryReportURL",
    "numdigits": "Digits",
    "finishonkeys": "FinishOnKey",
}

_DOCTYPE = re.compile(rb"<!\s*DOCTYPE", re.IGNORECASE)
_ENTITY = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)


@dataclass
class ParsedDocument:
    root: etree._Element
    source: str
    lines: list[str]
    warnings: list[Diagnostic] = field(default_factory=list)

    def locate(self, element: etree._Element, needle: str = "") -> tuple[int, int]:
        """(line, column) of ``element`` (or of ``needle`` on its line, e.g. an attribute)."""
        same_line = [e for e in self.root.iter(element.tag) if e.sourceline == element.sourceline]
        return _locate(self.lines, element, needle, same_line.index(element))


def _locate(lines: list[str], element: etree._Element, needle: str = "",
            occurrence: int = 0) -> tuple[int, int]:
    line = element.sourceline or 0
    if not 0 < line <= len(lines):
        return line, 0
    text = lines[line - 1]
    raw_tag = element.get("{urn:ivr}raw-tag") or str(element.tag)
    starts = [m.start() for m in re.finditer(f"<{re.escape(raw_tag)}(?=[\\s/>]|$)", text)]
    col = starts[min(occurrence, len(starts) - 1)] if starts else -1
    if needle:
        found = text.lower().find(needle.lower(), max(col, 0))
        col = found if found >= 0 else col
    return line, col + 1 if col >= 0 else 0


@lru_cache(maxsize=1)
def _schema() -> tuple[etree.RelaxNG, dict[str, tuple[str, dict[str, str]]]]:
    data = resources.files("ivr.ozml").joinpath("schema.rng").read_bytes()
    grammar = etree.fromstring(data)
    names: dict[str, tuple[str, dict[str, str]]] = {}
    for element in grammar.iter(f"{_RNG}element"):
        attrs: dict[str, str] = {}
        stack = list(element)
        while stack:  # attributes of this element only, not of nested elements
            node = stack.pop()
            if node.tag == f"{_RNG}element":
                continue
            if node.tag == f"{_RNG}attribute":
                attrs[node.get("name", "").lower()] = node.get("name", "")
            stack.extend(node)
        name = element.get("name", "")
        names[name.lower()] = (name, attrs)
    return etree.RelaxNG(grammar), names


def schema_names() -> dict[str, tuple[str, dict[str, str]]]:
    """lower-case element name -> (canonical name, {lower-case attr: canonical attr})."""
    return _schema()[1]


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
    if not raw.strip():
        raise OzmlError("empty document: expected <Response>", 1, 1, source)
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             dtd_validation=False, huge_tree=False, remove_comments=True,
                             remove_pis=True)
    try:
        root = etree.fromstring(raw.lstrip(), parser)
    except etree.XMLSyntaxError as exc:
        raise _syntax_error(exc, source) from None
    # lstrip() above tolerates leading blank lines (Twilio 12100's most common cause) but
    # would shift line numbers; count them back in.
    leading = raw[: len(raw) - len(raw.lstrip())].count(b"\n")
    text = raw.decode("utf-8", errors="replace")
    document = ParsedDocument(root=root, source=source, lines=text.splitlines())
    if leading:
        for element in root.iter():
            if isinstance(element.tag, str) and element.sourceline:
                element.sourceline += leading
    _normalise(document)
    _validate(document)
    return document


def _normalise(document: ParsedDocument) -> None:
    names = schema_names()
    canonical_elements = [canon for canon, _ in names.values()]
    for element in document.root.iter():
        if not isinstance(element.tag, str):
            continue
        qname = etree.QName(element)
        raw_tag = qname.localname
        entry = names.get(raw_tag.lower())
        if qname.namespace or entry is None:
            line, col = document.locate(element)  # only located when reported: it is costly
            if qname.namespace:
                raise OzmlError(f"<{raw_tag}>: namespaces are not used in OzML", line, col,
                                document.source)
            raise OzmlError(f"unknown command <{raw_tag}>"
                            f"{_did_you_mean(raw_tag, canonical_elements)}", line, col,
                            document.source)
        canonical, attributes = entry
        element.tag = canonical
        for attr in list(element.attrib):
            lower = str(attr).lower()
            target = attributes.get(lower) or ATTRIBUTE_ALIASES.get(lower)
            if target is None or target.lower() not in attributes:
                value = element.attrib.pop(attr)
                a_line, a_col = document.locate(element, str(attr))
                known = ", ".join(sorted(attributes.values())) or "none"
                document.warnings.append(Diagnostic(
                    "warning", f"<{canonical}> has no attribute {attr!r} (ignored; "
                    f"value {value!r}; known: {known})", a_line, a_col, document.source))
                continue
            if target != attr:
                if target in element.attrib:
                    a_line, a_col = document.locate(element, str(attr))
                    raise OzmlError(f"<{canonical}> gives {target} twice (as {attr!r})",
                                    a_line, a_col, document.source)
                element.attrib[target] = element.attrib.pop(attr)
        if raw_tag != canonical:
            element.set("{urn:ivr}raw-tag", raw_tag)


def _validate(document: ParsedDocument) -> None:
    rng, _ = _schema()
    # Validate a copy without our bookkeeping attribute (it is not in the schema).
    clean = etree.fromstring(etree.tostring(document.root))
    for element in clean.iter():
        if isinstance(element.tag, str):
            element.attrib.pop("{urn:ivr}raw-tag", None)
    if rng.validate(clean):
        return
    error = rng.error_log.last_error
    line = error.line if error is not None else 0
    message = error.message if error is not None else "document does not match the schema"
    if document.root.tag != "Response":
        raise OzmlError(f"the root element must be <Response>, not <{document.root.tag}>",
                        1, 1, document.source)
    if len(document.root) == 0:
        raise OzmlError("<Response> is empty: a script needs at least one command",
                        document.root.sourceline or 1, 1, document.source)
    friendly = _friendly(message)
    col = 0
    tag = re.search(r"<(\w+)>", friendly)
    if tag and 0 < line <= len(document.lines):
        col = document.lines[line - 1].lower().find("<" + tag.group(1).lower()) + 1
    raise OzmlError(friendly, line, col, document.source)


def _friendly(message: str) -> str:
    """libxml2's RELAX NG messages, said the way a script author thinks about them."""
    rules = [
        (r"Expecting element (\w+), got (\w+)", r"<\2> is not allowed here (expected <\1>)"),
        (r"Did not expect element (\w+) there", r"<\1> is not allowed here"),
        (r"Element (\w+) failed to validate attributes",
         r"<\1> is missing a required attribute"),
        (r"Element (\w+) has extra content: (\w+)", r"<\1> cannot contain <\2>"),
        (r"Did not expect text in element (\w+) content", r"<\1> cannot contain text"),
        (r"Invalid attribute (\w+) for element (\w+)", r"<\2> has no attribute \1"),
        (r"Element (\w+) failed to validate content", r"<\1> has invalid content"),
    ]
    for pattern, replacement in rules:
        if re.search(pattern, message):
            return re.sub(pattern, replacement, message)
    return message
