"""How well the diagnosis works, measured: the corpora it is scored on, the scoring and the cost.

- :mod:`~diagnostics.evaluation.corpus`: part 1, faults injected into one uniform model;
- :mod:`~diagnostics.evaluation.corpus_wild`: part 2, models written the way people write them;
- :mod:`~diagnostics.evaluation.corpus_public`: part 3, models after widely used public code;
- :mod:`~diagnostics.evaluation.outcomes`: part 4, the verdicts against the outcomes of real
  training runs (:mod:`~diagnostics.evaluation.outcomes_tasks`: the tasks and the recipe;
  :mod:`~diagnostics.evaluation.outcomes_train`: one run; :mod:`~diagnostics.evaluation.
  outcomes_grid`: the grid, ``--train``);
- :mod:`~diagnostics.evaluation.evaluate`: ``python -m diagnostics evaluate``, the scores;
- :mod:`~diagnostics.evaluation.cost` and :mod:`~diagnostics.evaluation.cost_corpus`:
  ``python -m diagnostics cost``, what a diagnosis and a watched step cost.

Nothing in the product imports this subpackage except the commands that run it.
"""
