"""Record every model request each trajectory makes during `collect` (importable from any test folder)."""

import copy

import agemem.rollout.collector as collector_module
from stages.trajectory import run_trajectory


def record_requests(monkeypatch) -> dict[tuple[str, int], list]:
    """Wrap the collector's trajectories so that each request is copied, keyed by (episode id, group index), in
    order, into the returned dict as `collect` runs."""
    requests: dict[tuple[str, int], list] = {}

    def recording(episode, group_index, state, settings):
        run = run_trajectory(episode, group_index, state, settings)
        log = requests.setdefault((episode.id, group_index), [])
        completion = None
        while True:
            try:
                request = run.send(completion) if completion is not None else next(run)
            except StopIteration as finished:
                return finished.value
            log.append(copy.deepcopy(request))
            completion = yield request

    monkeypatch.setattr(collector_module, "run_trajectory", recording)
    return requests
