"""LTM search: the project's BM25 index against rank_bm25 (Mem-alpha's choice) at 1k / 10k / 100k entries.

    python bench/ltm_search.py [--sizes 1000,10000,100000] [--queries 20] [--repeats 3] [--embedding 200]
        [--threads 1] [--seed 0] [--out bench/results/bench.json]

Entries are seeded synthetic memory texts: 8-24 words drawn from a Zipf-distributed vocabulary of 20,000 made-up
words, so document frequencies look like natural text's. Queries take 3 words of a random entry and 2 from the
vocabulary. Both sides get the same tokens (`agemem.memory.text.content_words`, tokenising counted on both sides):

- index: `agemem.memory.index.Bm25Index` (bm25s, sparse matrix) `fit` and `scores` against rank_bm25's
  `BM25Okapi(tokens)` and `get_scores` (one Python dict look-up per document per query word);
- store: `agemem.memory.ltm.LongTermMemory.search(query, top_k=3)` (what the agent's Retrieve_memory runs: index
  scores, metadata filter, exact-content check, ranking; its index fitted by the first search) against rank_bm25's
  `get_top_n(tokens, entries, n=3)`.

Build and query passes alternate `--repeats` times (above 10k entries: builds once, and `--queries` x 10k / n
queries, at least 5, to keep the run short); reported: the median seconds per build and per query, and the medians
of the per-repeat ratios rank_bm25 / project (figure: query at 10k, target >= 10). The embedding index
(`EmbeddingIndex` over `MiniLMEmbedder`, all-MiniLM-L6-v2 from its PyPI package, offline) is timed on the first
`--embedding` entries (build = embedding each, one at a time as the project does; query = embedding the query and
one matrix product) against the BM25 index on the same entries. Writes section `ltm_search` of
bench/results/bench.json with the command.
"""

import argparse
import statistics
import sys
from pathlib import Path

import measure  # sets the CPU environment before torch is imported

VOCABULARY = 20_000
LETTERS = "bcdfghjklmnprstvz"
VOWELS = "aeiou"


def corpus(n: int, queries: int, seed: int) -> tuple[list[str], list[str]]:
    """n seeded entries and `queries` queries (see the module docstring)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    syllables = [c + v for c in LETTERS for v in VOWELS]
    words = sorted({"".join(rng.choice(syllables, size=int(rng.integers(2, 5)))) for _ in range(VOCABULARY * 2)})
    words = [words[i] for i in rng.permutation(len(words))[:VOCABULARY]]
    weights = 1.0 / np.arange(1, VOCABULARY + 1) ** 1.07
    weights /= weights.sum()
    lengths = rng.integers(8, 25, size=n)
    drawn = rng.choice(VOCABULARY, size=int(lengths.sum()), p=weights)
    entries, start = [], 0
    for length in lengths:
        entries.append(" ".join(words[i] for i in drawn[start : start + length]))
        start += length
    asked = []
    for _ in range(queries):
        own = entries[int(rng.integers(n))].split()
        picked = [own[int(i)] for i in rng.choice(len(own), size=min(3, len(own)), replace=False)]
        asked.append(" ".join(picked + [words[int(i)] for i in rng.integers(VOCABULARY, size=2)]))
    return entries, asked


def measure_size(entries: list[str], queries: list[str], repeats: int, build_repeats: int) -> dict:
    """Build and query times of both indexes and both stores on one corpus."""
    from rank_bm25 import BM25Okapi

    from agemem.memory.index import Bm25Index
    from agemem.memory.ltm import LongTermMemory
    from agemem.memory.text import content_words

    def project_build() -> Bm25Index:
        index = Bm25Index()
        index.fit(entries)
        return index

    def rank_build() -> BM25Okapi:
        return BM25Okapi([content_words(e) for e in entries])

    build, built = measure.interleaved({"project": project_build, "rank_bm25": rank_build}, build_repeats)
    index, okapi = built["project"], built["rank_bm25"]
    store = LongTermMemory("bm25")
    with measure.Timed() as store_build:
        for entry in entries:
            store.add(entry)
        store.search(queries[0])  # fits its index
    query = measure.interleaved({
        "project": lambda: [index.scores(q) for q in queries],
        "rank_bm25": lambda: [okapi.get_scores(content_words(q)) for q in queries],
        "project_store": lambda: [store.search(q, top_k=3) for q in queries],
        "rank_bm25_top_n": lambda: [okapi.get_top_n(content_words(q), entries, n=3) for q in queries],
    }, repeats)[0]
    wall = query["wall"]
    per_query = {name: round(statistics.median(v) / len(queries), 7) for name, v in wall.items()}
    return {
        "entries": len(entries), "queries": len(queries),
        "build_s": {name: round(statistics.median(v), 4) for name, v in build["wall"].items()},
        "store_build_s": round(store_build.wall, 4),
        "query_s": per_query,
        "build_ratio": round(measure.median_ratio(build["wall"]["rank_bm25"], build["wall"]["project"]), 2),
        "query_ratio": round(measure.median_ratio(wall["rank_bm25"], wall["project"]), 2),
        "query_ratio_cpu": round(measure.median_ratio(query["cpu"]["rank_bm25"], query["cpu"]["project"]), 2),
        "store_query_ratio": round(measure.median_ratio(wall["rank_bm25_top_n"], wall["project_store"]), 2),
    }


def measure_embedding(entries: list[str], queries: list[str]) -> dict:
    """MiniLM embedding index against the BM25 index on the same entries (build once each: the cache would
    make a second embedding build free)."""
    from agemem.memory.embedding import MiniLMEmbedder, load_minilm
    from agemem.memory.index import Bm25Index, EmbeddingIndex

    with measure.Timed() as load:
        load_minilm()
    embedding, bm25 = EmbeddingIndex(MiniLMEmbedder()), Bm25Index()
    with measure.Timed() as embed_build:
        embedding.fit(entries)
    with measure.Timed() as bm25_build:
        bm25.fit(entries)
    with measure.Timed() as embed_query:
        for q in queries:
            embedding.scores(q)
    with measure.Timed() as bm25_query:
        for q in queries:
            bm25.scores(q)
    return {"entries": len(entries), "queries": len(queries), "model_load_s": round(load.wall, 2),
            "build_s": {"embedding": round(embed_build.wall, 4), "bm25": round(bm25_build.wall, 4)},
            "query_s": {"embedding": round(embed_query.wall / len(queries), 6),
                        "bm25": round(bm25_query.wall / len(queries), 7)},
            "build_ratio_embedding_to_bm25": round(embed_build.wall / bm25_build.wall, 1),
            "query_ratio_embedding_to_bm25": round(embed_query.wall / bm25_query.wall, 1)}


def run(sizes: tuple[int, ...] = (1000, 10000, 100000), queries: int = 20, repeats: int = 3, embedding: int = 200,
        threads: int = 1, seed: int = 0) -> dict:
    """Every size, then the embedding index; the result section (without the command)."""
    measure.set_threads(threads)
    rows = []
    for n in sizes:
        large = n > 10_000
        entries, asked = corpus(n, max(5, queries * 10_000 // n) if large else queries, seed)
        rows.append(measure_size(entries, asked, repeats, 1 if large else repeats))
        print(f"  {n} entries: query {rows[-1]['query_ratio']}x, build {rows[-1]['build_ratio']}x",
              file=sys.stderr, flush=True)
    result = {"sizes": rows, "target": ">= 10 (query, 10k entries)"}
    if embedding:
        entries, asked = corpus(embedding, queries, seed + 1)
        try:
            result["embedding"] = measure_embedding(entries, asked)
        except (ImportError, OSError) as err:  # the MiniLM package or its files are missing on this machine
            result["embedding"] = {"error": f"{type(err).__name__}: {err}"}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="entries in the store, comma-separated")
    parser.add_argument("--queries", type=int, default=20, help="queries timed per size")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes of each (medians reported)")
    parser.add_argument("--embedding", type=int, default=200, help="entries of the MiniLM index (0 skips it)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (MiniLM)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=measure.BENCH_JSON)
    args = parser.parse_args()
    sizes = tuple(int(s) for s in args.sizes.split(","))
    result = {"command": measure.command("ltm_search.py"), "env": measure.environment(args.threads),
              **run(sizes, args.queries, args.repeats, args.embedding, args.threads, args.seed)}
    for row in result["sizes"]:
        print(f"ltm search, {row['entries']} entries: query {row['query_s']} s; project {row['query_ratio']}x "
              f"rank_bm25 (store {row['store_query_ratio']}x); build {row['build_ratio']}x")
    print(f"embedding: {result.get('embedding')}")
    measure.write_section(args.out, "ltm_search", result)


if __name__ == "__main__":
    sys.exit(main())
