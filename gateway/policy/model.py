"""The Casbin model: loaded by pycasbin (so its own errors surface here) and held to the
one shape the fast evaluator implements."""

from __future__ import annotations

from casbin.model import Model

from gateway.policy.errors import PolicyError

_MATCHER = (
    'p.decision == "{decision}" && globMatch(r.obj, p.obj) && keyMatch(r.dom, p.dom)'
    " && hasRole(r.sub, p.sub, r.dom) && cond(p.cond, r.args, r.ctx)"
)
#: Matcher names in the order they are evaluated: deny overrides approve overrides allow.
MATCHERS = (("m", "deny"), ("m2", "approve"), ("m3", "allow"))

SUPPORTED_MODEL = "\n".join(
    [
        "[request_definition]",
        "r = sub, dom, obj, args, ctx",
        "[policy_definition]",
        "p = sub, dom, obj, decision, cond, approval",
        "[role_definition]",
        "g = _, _, _",
        "[policy_effect]",
        "e = some(where (p.eft == allow))",
        "[matchers]",
        *(f"{name} = {_MATCHER.format(decision=decision)}" for name, decision in MATCHERS),
    ]
)


def _load(text: str) -> Model:
    model = Model()
    model.load_model_from_text(text)
    return model


def _shape(model: Model) -> dict[tuple[str, str], str]:
    return {
        (section, key): " ".join(assertion.value.split())
        for section, assertions in model.model.items()
        for key, assertion in assertions.items()
    }


_SUPPORTED_SHAPE = _shape(_load(SUPPORTED_MODEL))


def check_model(name: str, text: str) -> Model:
    """Load the model with pycasbin and require the supported shape; PolicyError otherwise."""
    try:
        model = _load(text)
    except Exception as exc:  # pycasbin raises bare RuntimeError/KeyError/... for a bad model
        raise PolicyError(f"{name}: Casbin cannot load the model: {exc}") from None
    shape = _shape(model)
    for (section, key), expected in _SUPPORTED_SHAPE.items():
        found = shape.get((section, key))
        if found is None:
            raise PolicyError(f"{name}: missing `{key} = {expected}` (section of {key!r})")
        if found != expected:
            raise PolicyError(
                f"{name}: `{key} = {found}` is not supported; the gateway implements `{key} = {expected}`"
            )
    extra = sorted(key for section, key in shape if (section, key) not in _SUPPORTED_SHAPE)
    if extra:
        raise PolicyError(f"{name}: unsupported definitions {', '.join(extra)}; see docs/policies.md for the model")
    return model
