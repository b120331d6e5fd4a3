"""The LLM judge: rubric prompts → one batched backend call → parsed scores, with the rule judge as fallback."""

import logging
from collections.abc import Sequence

from agemem.rewards.judges.cache import JudgeCache
from agemem.rewards.judges.prompts import build_prompt, parse_score
from agemem.rewards.judges.protocol import CACHE, FALLBACK, LLM, CompletionBackend, JudgeRequest, Verdict
from agemem.rewards.judges.rule import RuleJudge

log = logging.getLogger(__name__)


class LLMJudge:
    """Scores every request of a batch with one `backend.complete` call (cache hits skipped).

    A request whose reply is missing (backend failure) or states no score in [0, 1] gets the rule judge's score
    instead, marked FALLBACK; the fallbacks are counted (`self.fallbacks`) and logged as one warning per batch.
    """

    def __init__(self, backend: CompletionBackend, fallback: RuleJudge, cache: JudgeCache | None = None):
        self.backend = backend
        self.fallback = fallback
        self.cache = cache
        self.fallbacks = 0  # requests scored by the rule fallback since construction
        self.backend_calls = 0  # prompts sent to the backend since construction

    def score(self, requests: Sequence[JudgeRequest]) -> list[Verdict]:
        prompts = [build_prompt(r) for r in requests]
        cached = self.cache.get_many(self.backend.model_id, prompts) if self.cache else [None] * len(prompts)
        missing = [i for i, reply in enumerate(cached) if reply is None]
        self.backend_calls += len(missing)
        fresh = dict(zip(missing, self.backend.complete([prompts[i] for i in missing]) if missing else []))
        verdicts, to_store, failed, unparsable = [], [], 0, 0
        for i, request in enumerate(requests):
            reply = cached[i] if cached[i] is not None else fresh[i]
            value = parse_score(reply) if reply is not None else None
            if value is None:
                failed += reply is None
                unparsable += reply is not None
                log.debug("judge reply to a %s request unusable: %r", request.kind, (reply or "")[:200])
                verdicts.append(Verdict(self.fallback.score_one(request), FALLBACK))
                continue
            verdicts.append(Verdict(value, CACHE if cached[i] is not None else LLM))
            if cached[i] is None:
                to_store.append((prompts[i], reply))
        if self.cache and to_store:
            self.cache.put_many(self.backend.model_id, to_store)
        if failed or unparsable:
            self.fallbacks += failed + unparsable
            log.warning(
                "judge %s: %d of %d requests used the rule fallback (%d without a reply, %d unparsable)",
                self.backend.model_id, failed + unparsable, len(requests), failed, unparsable,
            )
        return verdicts
