"""ingress-class: Ingresses that no controller implements."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from kubectl_netfix.inventory import Inventory
from kubectl_netfix.loader import escape_pointer_token
from kubectl_netfix.model import (
    Applicability,
    Finding,
    Fix,
    Fixability,
    KubeObject,
    ObjectPatch,
    PatchOp,
    Severity,
)
from kubectl_netfix.rules.base import Rule
from kubectl_netfix.workloads import containers

CLASS_ANNOTATION = "kubernetes.io/ingress.class"
DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
ANNOTATION_POINTER = f"/metadata/annotations/{escape_pointer_token(CLASS_ANNOTATION)}"

# spec.controller values of well-known controllers -> image fragments of their pods, for
# controllers that can run without a `--controller-class` flag naming their class.
CONTROLLER_IMAGES: Mapping[str, tuple[str, ...]] = {
    "k8s.io/ingress-nginx": ("ingress-nginx/controller",),
    "traefik.io/ingress-controller": ("traefik",),
    "ingress.k8s.aws/alb": ("aws-load-balancer-controller",),
    "haproxy.org/ingress-controller/haproxy": ("haproxytech/kubernetes-ingress",),
    "nginx.org/ingress-controller": ("nginx/nginx-ingress", "nginx-plus-ingress"),
    "projectcontour.io/ingress-controller": ("projectcontour/contour",),
    "ingress-controllers.konghq.com/kong": ("kong/kubernetes-ingress-controller",),
}
CONTROLLER_CLASS_FLAG = "--controller-class"
WATCH_WITHOUT_CLASS_FLAG = "--watch-ingress-without-class"
MAX_NAMED = 5


def is_default_class(ingress_class: KubeObject) -> bool:
    value: Any = ingress_class.annotations.get(DEFAULT_CLASS_ANNOTATION)
    return value == "true" or value is True


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _names(names: Iterable[str]) -> str:
    ordered = sorted(names)
    shown = ", ".join(ordered[:MAX_NAMED])
    if len(ordered) > MAX_NAMED:
        shown += f" and {len(ordered) - MAX_NAMED} more"
    return shown


def _one_of(names: set[str]) -> str:
    return next(iter(names)) if len(names) == 1 else f"one of {_names(names)}"


def _flag_values(arguments: Iterable[Any], flag: str) -> list[str | None]:
    """Values of `flag` in a container's command and args (`--f=v`, `--f v`; None: bare)."""
    tokens = [a for a in arguments if isinstance(a, str)]
    values: list[str | None] = []
    for number, token in enumerate(tokens):
        if token.startswith(flag + "="):
            values.append(token.partition("=")[2])
        elif token == flag:
            following = tokens[number + 1] if number + 1 < len(tokens) else None
            values.append(following if following and not following.startswith("-") else None)
    return values


def _arguments(container: Mapping[str, Any]) -> list[Any]:
    result: list[Any] = []
    for key in ("command", "args"):
        value = container.get(key)
        if isinstance(value, list):
            result.extend(value)
    return result


def watches_classless(inventory: Inventory) -> bool:
    """An ingress-nginx controller in the input serves Ingresses without any class."""
    for namespace in inventory.namespaces_with_pods():
        for template in inventory.pod_templates(namespace):
            for _, container in containers(template.spec):
                for value in _flag_values(_arguments(container), WATCH_WITHOUT_CLASS_FLAG):
                    if value is None or value.lower() == "true":
                        return True
    return False


def controller_running(inventory: Inventory, controller: str) -> bool | None:
    """Live: whether a running pod implements `controller`; None when the heuristic cannot
    tell (a controller outside the cluster, e.g. a cloud load balancer, pods unreadable, or a
    run with -n that did not read the other namespaces' pods).

    A pod implements it when a container passes `--controller-class=<controller>` (ingress-nginx
    and its forks), or, for a well-known controller, runs its image without a
    `--controller-class` naming another class.
    """
    if inventory.facts.unreadable & {"pods", "Pod"}:
        return None
    images = CONTROLLER_IMAGES.get(controller, ())
    for pod in inventory.of_kind("Pod"):
        status = pod.body.get("status")
        if not isinstance(status, dict) or status.get("phase") != "Running":
            continue
        spec = pod.spec
        for _, container in containers(spec):
            classes = _flag_values(_arguments(container), CONTROLLER_CLASS_FLAG)
            if controller in classes:
                return True
            image = container.get("image")
            if (
                images
                and isinstance(image, str)
                and any(fragment in image for fragment in images)
                and not [c for c in classes if c is not None and c != controller]
            ):
                return True
    if inventory.facts.namespaces_read is not None:
        return None  # live with -n: the controller may run in a namespace this run did not read
    return False if images else None


def _load_balancer_empty(ingress: KubeObject) -> bool:
    status = ingress.body.get("status")
    if not isinstance(status, dict):
        return True
    balancer = status.get("loadBalancer")
    return not (isinstance(balancer, dict) and balancer.get("ingress"))


class IngressClassRule(Rule):
    """Flags Ingresses that name no existing IngressClass, have no class at all, or still use
    the deprecated class annotation.

    What it does
    - `spec.ingressClassName` names no IngressClass (error). Live: always checked; files: when
      the input declares IngressClasses or `--ingress-class` names the ones that exist.
    - No `ingressClassName`, no `kubernetes.io/ingress.class` annotation and no default
      IngressClass (`ingressclass.kubernetes.io/is-default-class: "true"`) (warning). Files:
      only when the input declares IngressClasses or `--ingress-class` is given, and not when
      the input runs an ingress-nginx controller with `--watch-ingress-without-class`.
    - Only the deprecated `kubernetes.io/ingress.class` annotation (info).
    - Live: the class exists but no running pod implements its `spec.controller` and the
      Ingress has no load balancer address (error). A pod implements a controller when a
      container passes `--controller-class=<controller>` (ingress-nginx), or runs the image of a
      well-known controller (ingress-nginx, Traefik, AWS Load Balancer Controller, HAProxy,
      NGINX Inc., Contour, Kong) without a `--controller-class` naming another one; for other
      controllers (often outside the cluster, like cloud load balancers) it says nothing.
      Controllers usually run in a namespace of their own: this needs `-A` (with `-n` the
      other namespaces' pods are not read, so it says nothing unless one is found).

    Why is this bad?
    An Ingress that no controller claims is accepted by the API server and then ignored: no
    address, no route, no error anywhere. The annotation has been deprecated since 1.18; a
    new Ingress that sets both the annotation and the field is rejected by the API server.

    Example
    ```yaml
    kind: Ingress
    metadata:
      name: web
      annotations:
        kubernetes.io/ingress.class: nginx   # deprecated
    spec:
      rules: [...]
    ```

    Fix
    - Annotation only: `add /spec/ingressClassName` with the annotation's value and remove the
      annotation (both cannot be set on a new Ingress). Safe when an IngressClass of that name is
      known to exist (input, `--ingress-class`, live); unsafe when that is unknown; none when
      the known classes do not include it (create the IngressClass first).
    - No class: `add /spec/ingressClassName` of the only known class (unsafe: the Ingress
      starts being served by that controller). Several classes: no fix, they are listed.
    - Unknown class or missing controller: manual.

    Fix safety
    Migrating the annotation is safe when the IngressClass exists: ingress-nginx matches the
    annotation against its `--ingress-class` and the field against IngressClasses whose
    `spec.controller` is its `--controller-class`, and the standard installs create the
    IngressClass named like the annotation value. Check that the IngressClass's controller is
    the one that served the annotation when several controllers run.

    References
    https://kubernetes.io/docs/concepts/services-networking/ingress/#ingress-class
    https://kubernetes.io/docs/concepts/services-networking/ingress/#default-ingress-class
    https://kubernetes.io/docs/concepts/services-networking/ingress/#deprecated-annotation
    https://kubernetes.github.io/ingress-nginx/user-guide/multiple-ingress/
    https://kubernetes.github.io/ingress-nginx/#what-is-an-ingressclass-and-why-is-it-important-for-users-of-ingress-nginx-controller-now
    """

    id = "ingress-class"
    summary = "Ingress names no IngressClass, has no class, or uses the deprecated annotation"
    kinds = ("Ingress", "IngressClass")
    default_severity = Severity.WARNING
    fixable = Fixability.SOMETIMES

    def check(self, inventory: Inventory) -> Iterator[Finding]:
        ingresses = inventory.of_kind("Ingress")
        if not ingresses:
            return
        classes = {obj.name: obj for obj in inventory.of_kind("IngressClass")}
        known = set(classes) | set(inventory.options.ingress_classes)
        live = inventory.facts.live
        # Live, the list of IngressClasses is complete unless it could not be read.
        classes_known = bool(known) or (
            live and not inventory.facts.unreadable & {"IngressClass", "ingressclasses"}
        )
        defaults = sorted(name for name, obj in classes.items() if is_default_class(obj))
        classless_served: bool | None = None
        for ingress in ingresses:
            class_name = _text(ingress.spec.get("ingressClassName"))
            annotation = _text(ingress.annotations.get(CLASS_ANNOTATION))
            if class_name is not None:
                finding = self._named_class(
                    inventory, ingress, class_name, classes, known, classes_known
                )
            elif annotation is not None:
                finding = self._annotation_only(ingress, annotation, known, classes_known)
            else:
                if not classes_known or defaults:
                    continue
                if classless_served is None:
                    classless_served = watches_classless(inventory)
                if classless_served:
                    continue
                finding = self._no_class(ingress, known)
            if finding is not None:
                yield finding

    def _named_class(
        self,
        inventory: Inventory,
        ingress: KubeObject,
        class_name: str,
        classes: Mapping[str, KubeObject],
        known: set[str],
        classes_known: bool,
    ) -> Finding | None:
        pointer = "/spec/ingressClassName"
        if class_name not in known and classes_known:
            listing = f"known: {_names(known)}" if known else "the cluster has none"
            return self.finding(
                ingress,
                pointer,
                f"Ingress {ingress.name}: ingressClassName {class_name} names no IngressClass "
                f"({listing}): no controller will serve it",
                severity=Severity.ERROR,
                fix=Fix(
                    title="Point the Ingress at an existing IngressClass",
                    applicability=Applicability.MANUAL,
                    note=(
                        f"Set spec.ingressClassName to {_one_of(known)}, or install the "
                        f"controller that provides IngressClass {class_name}."
                        if known
                        else f"Install the controller that provides IngressClass {class_name}."
                    ),
                ),
            )
        ingress_class = classes.get(class_name)
        if not inventory.facts.live or ingress_class is None:
            return None
        controller = _text(ingress_class.spec.get("controller"))
        if controller is None or not _load_balancer_empty(ingress):
            return None
        if controller_running(inventory, controller) is not False:
            return None
        return self.finding(
            ingress,
            pointer,
            f"Ingress {ingress.name}: IngressClass {class_name} names controller {controller}, "
            "but no running pod implements it and the Ingress has no load balancer address: "
            "nothing serves it",
            severity=Severity.ERROR,
            fix=Fix(
                title=f"Run a controller for IngressClass {class_name}",
                applicability=Applicability.MANUAL,
                note=(
                    f"Install or scale up the controller for {controller} (check its pods and "
                    "their --controller-class), or point the Ingress at a served IngressClass."
                ),
            ),
        )

    def _annotation_only(
        self, ingress: KubeObject, annotation: str, known: set[str], classes_known: bool
    ) -> Finding:
        message = (
            f"Ingress {ingress.name} uses the deprecated annotation {CLASS_ANNOTATION}: "
            f"{annotation} instead of spec.ingressClassName"
        )
        if classes_known and annotation not in known:
            listing = f"known: {_names(known)}" if known else "the cluster has none"
            message += (
                f"; no IngressClass is named {annotation} ({listing}), so it cannot be "
                "migrated as is"
            )
            fix = Fix(
                title=f"Create IngressClass {annotation}, then migrate the annotation",
                applicability=Applicability.MANUAL,
                note=(
                    f"Create an IngressClass named {annotation} whose spec.controller is the "
                    "controller that serves this annotation, then set spec.ingressClassName "
                    f"and remove {CLASS_ANNOTATION}."
                ),
            )
            return self.finding(
                ingress, ANNOTATION_POINTER, message, severity=Severity.INFO, fix=fix
            )
        ops = _migration_ops(ingress, annotation)
        if classes_known:
            applicability = Applicability.SAFE
            note = ""
        else:
            applicability = Applicability.UNSAFE
            note = (
                f"Make sure an IngressClass named {annotation} exists (kubectl get ingressclass) "
                "and that its spec.controller is the controller serving this annotation: an "
                "Ingress whose class names no IngressClass is ignored."
            )
        fix = Fix(
            title=f"Move the {CLASS_ANNOTATION} annotation to spec.ingressClassName",
            applicability=applicability,
            patches=(ObjectPatch(ingress, ops),),
            note=note,
        )
        return self.finding(ingress, ANNOTATION_POINTER, message, severity=Severity.INFO, fix=fix)

    def _no_class(self, ingress: KubeObject, known: set[str]) -> Finding:
        pointer = "/spec" if isinstance(ingress.body.get("spec"), dict) else ""
        if not known:
            return self.finding(
                ingress,
                pointer,
                f"Ingress {ingress.name} has no ingressClassName and no class annotation, and "
                "the cluster has no IngressClass: no controller will serve it",
                severity=Severity.WARNING,
            )
        message = (
            f"Ingress {ingress.name} has no ingressClassName, no class annotation and there is "
            f"no default IngressClass (known: {_names(known)}): no controller is bound to serve "
            "it"
        )
        if len(known) != 1:
            return self.finding(
                ingress,
                pointer,
                message + "; set spec.ingressClassName to one of them",
                severity=Severity.WARNING,
            )
        (only,) = known
        ops: list[PatchOp]
        if pointer:
            ops = [{"op": "add", "path": "/spec/ingressClassName", "value": only}]
        else:
            ops = [{"op": "add", "path": "/spec", "value": {"ingressClassName": only}}]
        fix = Fix(
            title=f"Set spec.ingressClassName to {only}",
            applicability=Applicability.UNSAFE,
            patches=(ObjectPatch(ingress, ops),),
            note=(
                f"The {only} controller starts serving this Ingress (routes and address "
                "change). Alternatively mark IngressClass "
                f'{only} as the default with {DEFAULT_CLASS_ANNOTATION}: "true".'
            ),
        )
        return self.finding(ingress, pointer, message, severity=Severity.WARNING, fix=fix)


def _migration_ops(ingress: KubeObject, annotation: str) -> list[PatchOp]:
    annotations = ingress.metadata.get("annotations")
    ops: list[PatchOp]
    if isinstance(annotations, dict) and len(annotations) == 1:
        # The only annotation: remove the whole map rather than leave `annotations: {}`.
        ops = [
            {"op": "test", "path": "/metadata/annotations", "value": dict(annotations)},
            {"op": "remove", "path": "/metadata/annotations"},
        ]
    else:
        raw = ingress.annotations.get(CLASS_ANNOTATION)
        ops = [
            {"op": "test", "path": ANNOTATION_POINTER, "value": raw},
            {"op": "remove", "path": ANNOTATION_POINTER},
        ]
    if isinstance(ingress.body.get("spec"), dict):
        ops.append({"op": "add", "path": "/spec/ingressClassName", "value": annotation})
    else:
        ops.append({"op": "add", "path": "/spec", "value": {"ingressClassName": annotation}})
    return ops
