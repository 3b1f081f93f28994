"""Searching with a table: the paper's search (paper), the simulated harness for NAS algorithms
(harness) and its built-in algorithms (algorithms), transfer between tables (transfer)."""
from .paper import (PAPER_ALGOS, PaperSearchRun, SearchPlan, paper_search, search_plan, summarise_paper_search, table_frame,
    trained_mask)
from .algorithms import (ALGORITHMS, LocalSearch, PredictorGuided, RandomSearch, RegularizedEvolution,
    ZeroCostPick)
from .harness import (COST_MODELS, INCUMBENT_RULE, INCUMBENT_RULES, AlgorithmResult, BudgetExhausted, EvalRecord,
    SimulatedBenchmark, cost_noise, plot_regret,
    run_algorithm)
from .transfer import (IN_TARGET, PICK_SCORES, TransferPick, format_transfer, transfer_search,
    transfer_summary, validation_ranks)
from ..space import edit_distance, in_space, one_edit_neighbours, sampler_probabilities
