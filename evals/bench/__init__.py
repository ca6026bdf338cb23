"""Speed benchmarks of ingest, retrieval and answers: readable tables on stdout, every figure in JSON.

    python -m evals.bench ingest --articles 2000
    python -m evals.bench retrieval --sizes 1000 10000 100000
    python -m evals.bench answers [--limit 3]
    python -m evals.bench versus [--limit 3]   # ours vs the plain llama-index pipeline, one run
    python -m evals.bench feeds [--feeds 200 --items 50]   # feeds served locally: sync, poll, add
    python -m evals.bench all

Each section is a module (`ingest`, `retrieval`, `answers`, `versus`, `feeds`) with a function returning a
dict (seconds, megabytes, rates) that also names the machine and the date, and a function rendering that
dict as tables (`feeds` serves its feeds itself, from `feedsite`); all of them measure with `measure` (wall
and CPU time, memory, the machine, child processes) and set up with `common` (the corpora, fresh settings,
the embedder). `cli` prints a section's tables and merges its figures into the JSON file under the section's
name, so sections can be run one at a time; `all` runs every section in a child process of its own, so each
section's peak memory is its own. Everything is written to fresh temporary data dirs; the user's archive is
never touched. Nothing here asserts a speed: the targets are reported beside the figures.

Left out on purpose: repeated runs with confidence intervals (run the command again), GPU anything, and
remote backends (the figures are for the default local set-up).
"""
