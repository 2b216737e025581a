"""The loader: documents, objects, line numbers and input errors, for every shape of input."""

from __future__ import annotations

import gc
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest

from kubectl_netfix.files import FileSet, load_files
from kubectl_netfix.loader import (
    STDIN,
    InputError,
    SourceFile,
    decode,
    expand_paths,
    gc_paused,
    objects_of,
    parse_text,
    read_source,
    split_lines,
    split_pointer,
)
from kubectl_netfix.model import ClusterOrigin, FileOrigin, KubeObject, ObjectRef

FIXTURES = Path(__file__).parent / "fixtures" / "loader"


def load(text: str, path: str = "test.yaml") -> SourceFile:
    return parse_text(path, text)


def objects(source: SourceFile, default_namespace: str = "default") -> list[KubeObject]:
    return list(objects_of(source, default_namespace))


def line_of_text(text: str, needle: str) -> int:
    """1-based line of the first line containing `needle`: what an editor would show."""
    for number, line in enumerate(split_lines(text), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in the text")


def regions(source: SourceFile) -> list[tuple[int, int]]:
    return [(doc.first_line, doc.end_line) for doc in source.documents]


# --- documents and their regions -----------------------------------------------------------------


def test_stream_documents_and_regions() -> None:
    source = read_source(str(FIXTURES / "stream.yaml"))
    assert not source.errors and not source.is_json and not source.has_bom
    # The leading comment belongs to document 0, `---` starts the next region, and the
    # trailing comment belongs to the last document: the regions tile the file.
    assert regions(source) == [(0, 12), (12, 24), (24, 31)]
    assert len(source.lines) == 31
    assert source.document_text(source.documents[1]).startswith("---\n# second")
    assert "".join(source.document_text(d) for d in source.documents) == source.text


def test_empty_and_comment_only_documents_are_kept_as_none() -> None:
    source = load("# head\n---\n---\n# nothing\n---\nkey: value\n")
    assert [doc.data for doc in source.documents] == [None, None, {"key": "value"}]
    assert objects(source) == [] and source.errors == []


def test_empty_file() -> None:
    source = load("")
    assert source.documents == [] and source.errors == [] and objects(source) == []


@pytest.mark.parametrize("text", ["just a scalar\n", "- a\n- b\n", "42\n", "null\n"])
def test_documents_that_are_not_mappings_are_skipped(text: str) -> None:
    source = load(text)
    assert source.errors == [] and objects(source) == []
    assert len(source.documents) == 1


@pytest.mark.parametrize(
    "text",
    [
        "kind: Service\nmetadata: {name: a}\n",  # no apiVersion
        "apiVersion: v1\nmetadata: {name: a}\n",  # no kind
        "apiVersion: v1\nkind: Service\n",  # no name
        "apiVersion: v1\nkind: Service\nmetadata: {name: ''}\n",
        "apiVersion: v1\nkind: Service\nmetadata: [a]\n",
        "apiVersion: 1\nkind: Service\nmetadata: {name: a}\n",  # apiVersion not a string
        "replicaCount: 3\nimage: {repository: nginx}\n",  # a Helm values fragment
    ],
)
def test_non_objects_are_skipped_not_errors(text: str) -> None:
    source = load(text)
    assert source.errors == [] and objects(source) == []


def test_kube_proxy_configuration_needs_no_name() -> None:
    source = load("apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n")
    (obj,) = objects(source)
    assert obj.ref == ObjectRef(
        "kubeproxy.config.k8s.io/v1alpha1", "KubeProxyConfiguration", None, "kube-proxy-config"
    )


# --- namespaces ----------------------------------------------------------------------------------


def test_default_namespace_and_cluster_scoped_kinds() -> None:
    source = read_source(str(FIXTURES / "stream.yaml"))
    service, deployment, namespace = objects(source, "team-a")
    assert service.namespace == "team-a" and deployment.namespace == "team-a"
    # Cluster-scoped: no namespace, even when the manifest (wrongly) declares one.
    assert namespace.kind == "Namespace" and namespace.namespace is None
    assert str(namespace.ref) == "Namespace/shop"


@pytest.mark.parametrize(
    "kind", ["ClusterRole", "IngressClass", "StorageClass", "PersistentVolume", "Node"]
)
def test_more_cluster_scoped_kinds(kind: str) -> None:
    (obj,) = objects(load(f"apiVersion: v1\nkind: {kind}\nmetadata: {{name: x}}\n"))
    assert obj.namespace is None


@pytest.mark.parametrize(("declared", "expected"), [("'ns'", "ns"), ("''", "dflt"), ("7", "dflt")])
def test_declared_namespace(declared: str, expected: str) -> None:
    text = f"apiVersion: v1\nkind: Service\nmetadata: {{name: x, namespace: {declared}}}\n"
    (obj,) = objects(load(text), "dflt")
    assert obj.namespace == expected


# --- line numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("doc_index", "pointer", "needle"),
    [
        (0, "", "apiVersion: v1"),  # the root: its first key, not the leading comment
        (0, "/metadata/name", "name: web"),
        (0, "/spec/ports/0", "- port: 80"),
        (0, "/spec/ports/0/targetPort", "targetPort: http"),
        (0, "/spec/ports/1/port", "- port: 443"),
        (0, "/metadata/annotations/example.com~1path~0with", "example.com/path~with"),
        # A missing node: its nearest existing ancestor.
        (0, "/spec/ports/7/port", "ports:"),
        (0, "/spec/selector/app", "spec:"),
        (0, "/metadata/name/deeper", "name: web"),
        (1, "/spec/template/spec/containers/0/image", "image: nginx"),
        (1, "/spec/template/spec/dnsConfig", "    spec:"),
        (2, "/metadata/namespace", "namespace: ignored"),
    ],
)
def test_line_of_pointers(doc_index: int, pointer: str, needle: str) -> None:
    source = read_source(str(FIXTURES / "stream.yaml"))
    expected = line_of_text(source.document_text(source.documents[doc_index]), needle)
    expected += source.documents[doc_index].first_line
    assert source.line_of(doc_index, pointer) == expected


def test_fileset_line_of_prefixes_list_items_and_ignores_live_objects() -> None:
    fileset = load_files([str(FIXTURES / "list.json")], False, "default")
    first, second = fileset.objects
    text = (FIXTURES / "list.json").read_text()
    assert fileset.line_of(first, "/spec/type") == line_of_text(text, '"LoadBalancer"')
    assert fileset.line_of(second, "/spec/type") == line_of_text(text, '"NodePort"')
    # The item itself: its opening brace, three lines above its name.
    assert fileset.line_of(second, "") == line_of_text(text, '"name": "b"') - 3
    live = KubeObject(first.body, first.ref, ClusterOrigin("ctx", "1"))
    assert fileset.line_of(live, "/spec") is None


def test_split_lines_only_splits_on_line_feeds() -> None:
    assert split_lines("a\r\nb\x0cc\nd") == ["a\r\n", "b\x0cc\n", "d"]
    assert split_lines("") == []
    # libyaml's line breaks, without the characters only str.splitlines breaks at.
    assert split_lines("a\nb\r\nc\rd\x85e\u2028f\u2029\n") == [
        "a\n",
        "b\r\n",
        "c\r",
        "d\x85",
        "e\u2028",
        "f\u2029",
        "\n",
    ]


def test_split_pointer() -> None:
    assert split_pointer("") == []
    assert split_pointer("/a~1b/~0c/0") == ["a/b", "~c", "0"]


# --- kind: List and *List ------------------------------------------------------------------------

LIST = """\
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: first
- 42
- kind: NotAnObject
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: fourth
    namespace: other
"""


def test_list_items_get_pointer_prefixes() -> None:
    source = load(LIST)
    first, fourth = objects(source)
    assert isinstance(first.origin, FileOrigin) and isinstance(fourth.origin, FileOrigin)
    assert (first.origin.pointer_prefix, fourth.origin.pointer_prefix) == ("/items/0", "/items/3")
    assert (first.origin.doc_index, fourth.origin.doc_index) == (0, 0)
    assert fourth.namespace == "other" and first.namespace == "default"
    assert source.line_of(0, "/items/3/metadata/name") == line_of_text(LIST, "name: fourth")
    assert source.line_of(0, "/items/0") == line_of_text(LIST, "- apiVersion: v1")
    # The body is the item itself, not the List.
    assert first.body["kind"] == "Service"


@pytest.mark.parametrize("kind", ["ServiceList", "DeploymentList", "ConfigMapList"])
def test_typed_lists(kind: str) -> None:
    item = "{apiVersion: v1, kind: Service, metadata: {name: s}}"
    text = f"apiVersion: v1\nkind: {kind}\nmetadata: {{}}\nitems:\n- {item}\n"
    (obj,) = objects(load(text))
    assert obj.kind == "Service"
    assert isinstance(obj.origin, FileOrigin) and obj.origin.pointer_prefix == "/items/0"


def test_list_without_items_list_is_not_expanded() -> None:
    assert objects(load("apiVersion: v1\nkind: List\nitems: {}\n")) == []
    assert objects(load("apiVersion: v1\nkind: List\nmetadata: {name: l}\n"))[0].kind == "List"


def test_empty_list() -> None:
    assert objects(load("apiVersion: v1\nkind: List\nitems: []\n")) == []


# --- anchors and aliases -------------------------------------------------------------------------

ANCHORS = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: &labels
    app: web
    tier: front
spec:
  selector:
    matchLabels: *labels
  template:
    metadata:
      labels:
        <<: *labels
        extra: "yes"
"""


def test_anchors_aliases_and_merge_keys() -> None:
    source = load(ANCHORS)
    assert source.errors == []
    (obj,) = objects(source)
    spec = obj.body["spec"]
    assert spec["selector"]["matchLabels"] == {"app": "web", "tier": "front"}
    assert spec["template"]["metadata"]["labels"] == {"app": "web", "tier": "front", "extra": "yes"}
    # An alias is the anchored node: its line is where the value is written.
    assert source.line_of(0, "/spec/selector/matchLabels/app") == line_of_text(ANCHORS, "app: web")
    # A merged key has no node of its own under the alias: the nearest ancestor.
    merged = source.line_of(0, "/spec/template/metadata/labels/app")
    assert merged == line_of_text(ANCHORS, "      labels:")
    assert source.line_of(0, "/spec/template/metadata/labels/extra") == line_of_text(
        ANCHORS, "extra:"
    )


def test_a_merge_key_is_not_a_duplicate() -> None:
    text = "a: &x {k: 1}\nb:\n  <<: *x\n  <<: {j: 2}\n"
    assert load(text).errors == []


# --- BOM and CRLF --------------------------------------------------------------------------------


def test_bom_and_crlf() -> None:
    path = str(FIXTURES / "bom-crlf.yaml")
    source = read_source(path)
    assert source.has_bom and not source.text.startswith("\ufeff")
    assert source.errors == []
    first, second = objects(source)
    assert first.body["data"] == {"key": "value"}  # no stray \r in values
    assert second.name == "second"
    raw = (FIXTURES / "bom-crlf.yaml").read_bytes().decode("utf-8-sig")
    assert source.line_of(0, "/data/key") == line_of_text(raw, "key: value")
    assert source.line_of(1, "/metadata/name") == line_of_text(raw, "name: second")
    assert source.document_text(source.documents[0]).endswith("value\r\n")
    assert regions(source) == [(0, 6), (6, 11)]


def test_bom_json() -> None:
    text, has_bom = decode(
        "x.json",
        b'\xef\xbb\xbf{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}}',
    )
    source = parse_text("x.json", text, has_bom)
    assert source.is_json and source.has_bom
    assert objects(source)[0].name == "n"


# --- syntax errors: one line each, and the rest of the stream is still read --------------------


def test_errors_resume_at_the_next_document() -> None:
    path = str(FIXTURES / "errors.yaml")
    source = read_source(path)
    text = (FIXTURES / "errors.yaml").read_text()
    assert [obj.name for obj in objects(source)] == ["one", "three", "five"]
    first, second = source.errors
    # An unclosed flow mapping is noticed at the next `---`; document three is still read.
    assert first.path == path and first.line == line_of_text(text, "name: three") - 4
    assert str(first) == f"{path}:{first.line}: {first.message}"
    assert first.message.startswith("invalid YAML: ")
    assert second.line == line_of_text(text, "   c: d")
    assert "\n" not in str(first) + str(second)
    # The broken documents keep their place in the stream, so indices stay stable.
    assert [doc.error is not None for doc in source.documents] == [False, True, False, True, False]
    assert [doc.index for doc in source.documents] == [0, 1, 2, 3, 4]


def test_error_in_the_last_document_takes_the_rest_of_the_file() -> None:
    source = load("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\na: [\nb: 1\n")
    assert [obj.name for obj in objects(source)] == ["a"]
    (error,) = source.errors
    assert source.documents[-1].error is error
    assert source.documents[-1].end_line == len(source.lines)


def test_error_without_any_document_marker() -> None:
    source = load("a: b: c\n")
    (error,) = source.errors
    assert error.line == 1 and objects(source) == []


def test_tab_indentation_is_an_error_with_a_line() -> None:
    (error,) = load("a:\n\tb: 1\n").errors
    assert error.line == 2


def test_error_at_a_document_marker_does_not_swallow_the_next_document() -> None:
    # The scanner runs into the `---` of the next document: resume there, not after it.
    text = "a: 'unterminated\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: kept}\n"
    source = load(text)
    assert len(source.errors) == 1
    assert [obj.name for obj in objects(source)] == ["kept"]


# --- duplicate keys ------------------------------------------------------------------------------


def test_duplicate_key_fails_only_its_document() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n---\n"
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n"
    )
    source = load(text)
    (error,) = source.errors
    assert error.line == 5
    assert error.message == "invalid YAML: found duplicate key 'name'"
    assert [obj.name for obj in objects(source)] == ["c"]
    assert source.documents[0].error is error and source.documents[0].data is None


def test_duplicate_key_inside_a_list_item_fails_the_list_document() -> None:
    text = LIST.replace("    name: fourth\n", "    name: fourth\n    name: again\n")
    source = load(text + "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: after}\n")
    (error,) = source.errors
    assert error.line == line_of_text(text, "name: again")
    assert [obj.name for obj in objects(source)] == ["after"]


def test_duplicate_key_in_a_flow_mapping_and_at_the_root() -> None:
    assert load("a: {x: 1, x: 2}\n").errors[0].line == 1
    assert load("kind: A\nkind: B\n").errors[0].line == 2


def test_same_key_in_sibling_mappings_is_fine() -> None:
    assert load("a: {x: 1}\nb: {x: 2}\nc:\n- x: 1\n- x: 2\n").errors == []


# --- JSON ----------------------------------------------------------------------------------------


def test_json_list_file_with_line_numbers() -> None:
    source = read_source(str(FIXTURES / "list.json"))
    assert source.is_json and source.errors == []
    _, second = objects(source)
    assert second.namespace == "x"
    assert [doc.data["kind"] for doc in source.documents] == ["List"]
    text = (FIXTURES / "list.json").read_text()
    assert source.line_of(0, "/items/0/spec/type") == line_of_text(text, "LoadBalancer")
    assert source.line_of(0, "/items/1/metadata") == line_of_text(text, '"name": "b"')


def test_json_detected_by_content() -> None:
    text = '{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}\n'
    source = load(text, "from-kubectl.yaml")
    assert source.is_json
    assert objects(source)[0].name == "x"


def test_json_duplicate_key_is_an_error() -> None:
    text = (
        '{"apiVersion": "v1",\n "kind": "Namespace",\n "kind": "Namespace",\n'
        ' "metadata": {"name": "x"}}\n'
    )
    source = load(text, "dup.json")
    (error,) = source.errors
    assert "duplicate key 'kind'" in error.message
    assert error.line is not None
    assert objects(source) == []


def test_json_with_comments_is_read_as_yaml() -> None:
    text = '# generated\n{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}\n'
    source = load(text, "commented.json")
    assert not source.is_json and source.errors == []
    assert objects(source)[0].name == "x"


def test_invalid_json_reports_a_line() -> None:
    source = load('{\n  "a": [1,\n  "b": }\n', "broken.json")
    (error,) = source.errors
    assert error.line is not None and error.line >= 2


def test_json_top_level_array_is_not_an_object() -> None:
    source = load(
        '[{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}]', "a.json"
    )
    assert source.is_json and objects(source) == [] and source.errors == []


# --- values YAML types that JSON and kubectl see differently -------------------------------------


def test_big_numbers() -> None:
    source = load("a: 123456789012345678901234567890\nb: 1.5e+300\nc: .inf\nd: 0x1F\ne: 1e3\n")
    data: dict[str, Any] = source.documents[0].data
    assert data["a"] == 123456789012345678901234567890
    assert data["b"] == 1.5e300
    # YAML 1.1 floats need a dot (and a signed exponent): PyYAML keeps `1e3` a string.
    assert data["e"] == "1e3"
    assert math.isinf(data["c"]) and data["d"] == 31
    # JSON has no infinity: json.dumps writes `Infinity`, which strict parsers reject.
    assert "Infinity" in json.dumps(data)


def test_timestamps_stay_strings_like_kubectl() -> None:
    data = load("d: 2024-01-01\n").documents[0].data
    assert data["d"] == "2024-01-01"


def test_sexagesimal_stays_a_string_like_kubectl() -> None:
    assert load("port: 1:20\n").documents[0].data["port"] == "1:20"


# --- bytes that are not YAML text ----------------------------------------------------------------


def test_nul_bytes_are_binary() -> None:
    with pytest.raises(InputError) as caught:
        decode("image.yaml", b"PNG\x00\x00")
    assert str(caught.value) == "image.yaml: not a text file (binary content)"


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("utf-16", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32")],
)
def test_utf16_and_utf32_are_named_not_called_binary(encoding: str, name: str) -> None:
    # PowerShell's `>` writes UTF-16 LE with a BOM: the error says what to do about it.
    text = "apiVersion: v1\nkind: Service\n"
    # utf-16 and utf-32 write their BOM themselves; utf-16-be needs it spelled out.
    raw = ("\ufeff" + text if encoding == "utf-16-be" else text).encode(encoding)
    with pytest.raises(InputError) as caught:
        decode("svc.yaml", raw)
    assert str(caught.value) == (
        f"svc.yaml: {name} text: netfix reads UTF-8; convert it first (iconv -f {name} -t UTF-8)"
    )


def test_nul_byte_late_in_a_file_is_a_yaml_error_not_a_crash() -> None:
    text, _ = decode("late.yaml", b"a: " + b"x" * 9000 + b"\n\x00\n")
    (error,) = parse_text("late.yaml", text).errors
    assert "control characters are not allowed" in error.message


def test_non_utf8() -> None:
    with pytest.raises(InputError) as caught:
        decode("latin1.yaml", "name: caf\xe9\n".encode("latin-1"))
    assert caught.value.message.startswith("not UTF-8 text (byte 9")
    assert caught.value.line is None


def test_unicode_line_separator_inside_a_quoted_value() -> None:
    text = (
        'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  k: "x\u2028y"\n  j: v\n'
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b}\n"
    )
    source = load(text)
    # Lines are counted where libyaml counts them (U+2028 is a YAML line break), so the regions
    # agree with the parser's marks and the second document starts exactly at its `---`.
    assert regions(source) == [(0, 7), (7, 11)]
    assert source.lines[7] == "---\n"
    assert "".join(source.lines) == text
    assert source.line_of(0, "/data/j") == 7


# --- reading paths -------------------------------------------------------------------------------


def test_read_source_errors(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "file.yaml").write_text("a: 1\n")
    cases = {
        str(tmp_path / "missing.yaml"): "no such file or directory",
        str(tmp_path / "dir"): "is a directory (use -R to recurse)",
        str(tmp_path / "file.yaml" / "x.yaml"): "Not a directory",
    }
    for path, message in cases.items():
        with pytest.raises(InputError) as caught:
            read_source(path)
        assert (caught.value.path, caught.value.message) == (path, message)


def test_read_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    data = "\ufeffapiVersion: v1\r\nkind: Namespace\r\nmetadata: {name: piped}\r\n".encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data), encoding="utf-8"))
    source = read_source("-")
    assert source.path == STDIN and source.has_bom
    (obj,) = objects(source)
    assert isinstance(obj.origin, FileOrigin) and obj.origin.path == STDIN


def test_expand_paths(tmp_path: Path) -> None:
    for name in ["b.yaml", "a.YML", "c.json", "notes.txt", ".hidden.yaml", "sub/d.yaml"]:
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text("a: 1\n")
    flat = [Path(p).name for p in expand_paths([str(tmp_path)], recursive=False)]
    assert flat == ["a.YML", "b.yaml", "c.json"]
    deep = [Path(p).relative_to(tmp_path).as_posix() for p in expand_paths([str(tmp_path)], True)]
    assert deep == ["a.YML", "b.yaml", "c.json", "sub/d.yaml"]
    # Files named explicitly are read whatever their suffix; `-` is stdin.
    named = [str(tmp_path / "notes.txt"), "-"]
    assert list(expand_paths(named, recursive=False)) == named


def test_load_files_collects_errors_and_keeps_going(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata: {name: g}\n")
    (tmp_path / "bad.yaml").write_text("a: [\n")
    (tmp_path / "bin.yaml").write_bytes(b"\x00\x01")
    fileset = load_files([str(tmp_path), str(tmp_path / "nope.yaml")], False, "default")
    assert isinstance(fileset, FileSet)
    assert [obj.name for obj in fileset.objects] == ["g"]
    assert sorted(Path(e.path).name for e in fileset.errors) == [
        "bad.yaml",
        "bin.yaml",
        "nope.yaml",
    ]
    # A file that did not parse is still a source (the write-back refuses it by its errors).
    assert str(tmp_path / "bad.yaml") in fileset.sources


def test_gc_paused_restores_the_collector() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
