"""Searching with a table: the paper's search, the simulated harness for NAS algorithms, transfer."""
from .harness import (ALGORITHMS, AlgorithmResult, BudgetExhausted, EvalRecord, LocalSearch, PAPER_ALGOS,
    PaperSearchRun, PredictorGuided, RandomSearch, RegularizedEvolution, SimulatedBenchmark, ZeroCostPick,
    edit_distance, in_space, one_edit_neighbours, paper_search, plot_regret, run_algorithm,
    sampler_probabilities, summarise_paper_search, table_frame)
from .transfer import (IN_TARGET, PICK_SCORES, TransferPick, format_transfer, transfer_search,
    transfer_summary, validation_ranks)
