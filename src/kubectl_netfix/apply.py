"""Send fixes to the cluster: guarded JSON patches, re-planned once on a conflict.

Each object's patch starts with a `test` of the resourceVersion it was planned against, so a
concurrent change is never overwritten; the rules' own `test` ops guard the replaced values. On
a conflict the object is re-read, the rule re-run against the fresh object, and the new patch
sent once more; a second conflict is reported.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kubectl_netfix.cluster import RESOURCE_BY_KIND, _slim, api_error_message, get_json
from kubectl_netfix.inventory import Inventory
from kubectl_netfix.model import ClusterOrigin, Finding, JsonObject, KubeObject, PatchOp
from kubectl_netfix.rules import rule_by_id

FIELD_MANAGER = "kubectl-netfix"
JSON_PATCH = "application/json-patch+json"

# Result words, one per object, as printed.
APPLIED = "applied"
UNCHANGED = "unchanged"
DRY_RUN_OK = "dry-run ok"
CREATED = "created"
CONFLICT = "conflict"
FORBIDDEN = "forbidden"
INVALID = "invalid"
NOT_FOUND = "not found"
FAILED = "failed"
OK_RESULTS = {APPLIED, UNCHANGED, DRY_RUN_OK, CREATED}


@dataclass(frozen=True)
class ObjectResult:
    target: str  # Kind/namespace/name
    result: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.result in OK_RESULTS

    def line(self) -> str:
        return f"{self.target}: {self.result}" + (f" ({self.detail})" if self.detail else "")


def guarded(obj: KubeObject, ops: Sequence[PatchOp]) -> list[PatchOp]:
    origin = obj.origin
    ops = list(ops)
    if isinstance(origin, ClusterOrigin) and origin.resource_version:
        return [
            {"op": "test", "path": "/metadata/resourceVersion", "value": origin.resource_version},
            *ops,
        ]
    return ops


def kubectl_patch_command(obj: KubeObject, ops: Sequence[PatchOp]) -> str:
    resource = RESOURCE_BY_KIND.get(obj.kind)
    kind = resource.display if resource else obj.kind.lower()
    parts = ["kubectl", "patch", kind, obj.name]
    if obj.namespace:
        parts += ["-n", obj.namespace]
    parts += ["--type=json", "-p", json.dumps(list(ops), separators=(",", ":"))]
    return shlex.join(parts)


def _status(exc: Exception) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def _send_patch(client: Any, obj: KubeObject, ops: Sequence[PatchOp], dry_run: bool) -> JsonObject:
    resource = RESOURCE_BY_KIND[obj.kind]
    query: list[tuple[str, Any]] = [("fieldManager", FIELD_MANAGER)]
    if dry_run:
        query.append(("dryRun", "All"))
    response = client.call_api(
        resource.object_path(obj.namespace, obj.name),
        "PATCH",
        query_params=query,
        header_params={"Content-Type": JSON_PATCH, "Accept": "application/json"},
        body=list(ops),
        auth_settings=["BearerToken"],
        _preload_content=False,
        _return_http_data_only=True,
    )
    result: JsonObject = json.loads(response.data)
    return result


def _send_create(client: Any, body: JsonObject, dry_run: bool) -> JsonObject:
    resource = RESOURCE_BY_KIND[body["kind"]]
    namespace = (body.get("metadata") or {}).get("namespace")
    query: list[tuple[str, Any]] = [("fieldManager", FIELD_MANAGER)]
    if dry_run:
        query.append(("dryRun", "All"))
    response = client.call_api(
        resource.collection_path(namespace),
        "POST",
        query_params=query,
        header_params={"Content-Type": "application/json", "Accept": "application/json"},
        body=body,
        auth_settings=["BearerToken"],
        _preload_content=False,
        _return_http_data_only=True,
    )
    result: JsonObject = json.loads(response.data)
    return result


def _may_be_guard_failure(exc: Exception) -> bool:
    # A failed JSON-patch `test` comes back as 422 (409 on some versions); v1.36 says only
    # "the server rejected our request due to an error in our request", so the message cannot
    # tell it from an invalid patch: re-reading the object does (see apply_patch).
    return _status(exc) in (409, 422)


def _failure(target: str, exc: Exception, verb: str, resource: str) -> ObjectResult:
    status = _status(exc)
    message = api_error_message(exc)
    if status == 403:
        return ObjectResult(target, FORBIDDEN, f"cannot {verb} {resource}: {message}")
    if status == 404:
        return ObjectResult(target, NOT_FOUND, message)
    if status in (400, 422):
        return ObjectResult(target, INVALID, message)
    if status == 409:
        return ObjectResult(target, CONFLICT, message)
    return ObjectResult(target, FAILED, message)


Replanner = Callable[[KubeObject, str], Sequence[PatchOp] | None]


def apply_patch(
    client: Any,
    obj: KubeObject,
    ops: Sequence[PatchOp],
    dry_run: bool,
    replan: Replanner,
    rule_ids: Sequence[str],
) -> ObjectResult:
    """PATCH one object; on a guard failure re-read, re-plan once, and try again."""
    target = str(obj.ref)
    resource = RESOURCE_BY_KIND.get(obj.kind)
    if resource is None:
        return ObjectResult(target, FAILED, f"netfix cannot patch {obj.kind} objects")
    attempt_obj, attempt_ops = obj, ops
    for attempt in range(2):
        before = (
            attempt_obj.origin.resource_version
            if isinstance(attempt_obj.origin, ClusterOrigin)
            else ""
        )
        try:
            result = _send_patch(client, attempt_obj, guarded(attempt_obj, attempt_ops), dry_run)
        except Exception as exc:
            if not _may_be_guard_failure(exc):
                return _failure(target, exc, "patch", resource.display)
            try:
                fresh = _reread(client, obj)
            except Exception:
                return _failure(target, exc, "patch", resource.display)
            if fresh is None:
                return ObjectResult(target, NOT_FOUND, "deleted since it was read")
            if not _changed(attempt_obj, fresh):
                # Not a concurrent change: the patch itself is wrong; say which guard failed.
                return _invalid(target, exc, fresh, attempt_ops, resource.display)
            if attempt == 1:
                break
            new_ops: list[PatchOp] = []
            for rule_id in rule_ids:
                new_ops.extend(replan(fresh, rule_id) or ())
            if not new_ops:
                return ObjectResult(
                    target, UNCHANGED, "changed since it was read; no fix needed now"
                )
            attempt_obj, attempt_ops = fresh, new_ops
            continue
        if dry_run:
            return ObjectResult(target, DRY_RUN_OK)
        after = str((result.get("metadata") or {}).get("resourceVersion", ""))
        return ObjectResult(target, UNCHANGED if after == before else APPLIED)
    return ObjectResult(target, CONFLICT, "changed concurrently; not overwritten: run netfix again")


def _changed(planned: KubeObject, fresh: KubeObject) -> bool:
    """Whether the object changed since `planned` was read (its resourceVersion moved)."""
    old = planned.origin.resource_version if isinstance(planned.origin, ClusterOrigin) else ""
    new = fresh.origin.resource_version if isinstance(fresh.origin, ClusterOrigin) else ""
    return bool(old) and old != new


def _invalid(
    target: str, exc: Exception, fresh: KubeObject, ops: Sequence[PatchOp], resource: str
) -> ObjectResult:
    import jsonpatch
    import jsonpointer

    try:
        jsonpatch.apply_patch(fresh.body, list(ops))
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as local:
        return ObjectResult(target, INVALID, f"{api_error_message(exc)}: {local}")
    return _failure(target, exc, "patch", resource)


def create_object(client: Any, body: JsonObject, dry_run: bool) -> ObjectResult:
    metadata = body.get("metadata") or {}
    target = f"{body.get('kind')}/{metadata.get('namespace')}/{metadata.get('name')}"
    resource = RESOURCE_BY_KIND.get(str(body.get("kind")))
    if resource is None:
        return ObjectResult(target, FAILED, f"netfix cannot create {body.get('kind')} objects")
    try:
        _send_create(client, body, dry_run)
    except Exception as exc:
        if _status(exc) == 409:
            return ObjectResult(target, UNCHANGED, "already exists")
        return _failure(target, exc, "create", resource.display)
    return ObjectResult(target, DRY_RUN_OK if dry_run else CREATED)


def _reread(client: Any, obj: KubeObject) -> KubeObject | None:
    resource = RESOURCE_BY_KIND[obj.kind]
    try:
        body = get_json(client, resource.object_path(obj.namespace, obj.name))
    except Exception as exc:
        if _status(exc) == 404:
            return None
        raise
    body.setdefault("apiVersion", obj.ref.api_version)
    body.setdefault("kind", obj.kind)
    body = _slim(obj.kind, body)  # the shape the rules saw when they planned
    origin = obj.origin
    context = origin.context if isinstance(origin, ClusterOrigin) else ""
    rv = str((body.get("metadata") or {}).get("resourceVersion", ""))
    return KubeObject(body=body, ref=obj.ref, origin=ClusterOrigin(context, rv))


def make_replanner(inventory: Inventory, unsafe: bool) -> Replanner:
    """Re-run one rule with `fresh` in place of the stale object; return its ops for it."""
    from kubectl_netfix.engine import applicable, is_suppressed

    def replan(fresh: KubeObject, rule_id: str) -> Sequence[PatchOp] | None:
        rule_class = rule_by_id(rule_id)
        if rule_class is None:
            return None
        objects = [
            fresh
            if (o.kind, o.namespace, o.name) == (fresh.kind, fresh.namespace, fresh.name)
            else o
            for o in inventory.objects
        ]
        fresh_inventory = Inventory(objects, inventory.options, inventory.facts)
        ops: list[PatchOp] = []
        for finding in rule_class().check(fresh_inventory):
            if is_suppressed(finding) or not applicable(finding.fix, unsafe):
                continue
            assert finding.fix is not None
            for patch in finding.fix.patches:
                if patch.target is fresh:
                    ops.extend(patch.ops)
        return ops or None

    return replan


def findings_by_target(findings: Sequence[Finding]) -> dict[int, list[str]]:
    """id(target object) -> rule ids whose fixes patch it (for re-planning)."""
    result: dict[int, list[str]] = {}
    for finding in findings:
        if finding.fix is None:
            continue
        for patch in finding.fix.patches:
            rules = result.setdefault(id(patch.target), [])
            if finding.rule_id not in rules:
                rules.append(finding.rule_id)
    return result
