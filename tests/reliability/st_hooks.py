"""Schemathesis hooks for the API schema run (`SCHEMATHESIS_HOOKS=tests.reliability.st_hooks`).

- the bulk import body (`application/x-ndjson`, a string) is sent as text;
- path parameters are sometimes real ids (quizzes, questions, users of the tenant, taken from
  `QBANK_ST_IDS`), so generated bodies reach the delivery and authoring code behind the 404s;
- bodies sometimes carry a real exam code or topic (`QBANK_ST_IDS["body"]`, by path), so a
  generated quiz or question can be created rather than refused at the first field.
"""

from __future__ import annotations

import os

import orjson
import schemathesis
from hypothesis import strategies as st

schemathesis.serializer.alias("application/x-ndjson", "text/plain")

_IDS: dict[str, list] = orjson.loads(os.environ.get("QBANK_ST_IDS", "{}"))
_PARAMS = {"quiz_id": "quiz_ids", "question_id": "question_ids", "user_id": "user_ids"}


@schemathesis.hook
def before_generate_path_parameters(context, strategy):
    path = context.operation.path if context.operation is not None else ""
    real = {p: _IDS.get(key) for p, key in _PARAMS.items() if f"{{{p}}}" in path and _IDS.get(key)}
    if not real:
        return strategy

    def with_real_ids(params) -> st.SearchStrategy:
        if not isinstance(params, dict):  # a negative case (wrapped with its mutation): as is
            return st.just(params)
        return st.fixed_dictionaries({p: st.sampled_from(ids) for p, ids in real.items()}).map(
            lambda chosen: {**params, **chosen}
        )

    return st.one_of(strategy, strategy.flatmap(with_real_ids))


@schemathesis.hook
def before_generate_body(context, strategy):
    op = context.operation
    fields = (
        _IDS.get("body", {}).get(op.path)
        if op is not None and op.method.lower() == "post"
        else None
    )
    if not fields:
        return strategy

    def with_real_fields(body):
        return {**body, **fields} if isinstance(body, dict) else body

    return st.one_of(strategy, strategy.map(with_real_fields))
