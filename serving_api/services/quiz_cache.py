"""Quiz states this process read or wrote last, so the usual `next` and `answer` need no read.

PostgreSQL stays the only place the state lives; this is a copy the process may use only while
it is provably current. Every write of delivery is guarded by the quiz's `state_version` (bumped
by every change of the session row): a write from an outdated copy changes nothing, and the
request starts again from a fresh read. Outcomes that write nothing (the item already being
served, an error) are always decided on a fresh read.

A request takes the copy out (`take`) and gives it back (`give`) only after its write succeeded,
so two requests of one process never work on one object, and a copy never lags behind this
process's own writes. Another process's writes are what the version guard is for.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict

from serving_api.services.quiz_state import QuizState


class QuizStateCache:
    def __init__(self, max_entries: int = 4096):
        self._entries: OrderedDict[uuid.UUID, QuizState] = OrderedDict()
        self._max = max_entries

    def take(
        self, quiz_id: uuid.UUID, tenant_id: uuid.UUID, user_id: uuid.UUID
    ) -> QuizState | None:
        """The copy of `quiz_id` if it belongs to this student, removed until given back."""
        st = self._entries.get(quiz_id)
        if st is None or st.tenant_id != tenant_id or st.user_id != user_id:
            return None
        del self._entries[quiz_id]
        return st

    def give(self, st: QuizState) -> None:
        """Keep `st` (exactly the stored state at `st.state_version`) for the next request."""
        if st.status != "active" or self._max == 0:
            return  # a sealed quiz is never written again
        self._entries[st.id] = st
        self._entries.move_to_end(st.id)
        if len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
