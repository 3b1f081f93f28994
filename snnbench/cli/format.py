"""How the commands print: records, JSON (NaN as null), numbers, CSV options."""
from __future__ import annotations


def format_record(rec: dict) -> str:
    def num(v, fmt):
        return "-" if v is None or v != v else format(v, fmt)
    lines = [f"table       {rec['table']} (shipped)"] if "table" in rec else []
    lines += [f"dataset     {rec['dataset']}"] if "dataset" in rec else []
    lines += [f"cell        {rec['hash']}  {rec['text']}  ({rec['space']} cell)",
             f"attributes  " + ", ".join(f"{k} {rec[k]}" for k in ("n_forward", "n_backward", "depth", "n_nodes")),
             f"scores      HD {num(rec['hd'], '.3f')}  SAHD {num(rec['sahd'], '.3f')}  SAHD-Eq.9 "
             f"{num(rec['sahd_eq9'], '.3f')}  (log|det K|)",
             f"network     {rec['n_params']} parameters; firing rate at init {num(rec['firing_rate_init'], '.4f')}"]
    if not rec["trained"]:
        lines.append("trained     no (scores only)")
        return "\n".join(lines)
    which = f"seed {rec['seed']}" if "seed" in rec else f"mean of {rec['n_seeds']} seeds"
    at = ""
    if "epoch" in rec:
        at = f"; values after epoch {rec['epoch']}" + (f" (budget {rec['budget']})" if "budget" in rec else "")
    lines += [f"trained     {which}, {rec['epochs']} epochs{at}",
              f"valid acc   {num(rec['valid_acc'], '.2f')} %  (std {num(rec['valid_acc_std'], '.2f')})",
              f"test acc    {num(rec['test_acc'], '.2f')} %  (std {num(rec['test_acc_std'], '.2f')})",
              *([f"loss        valid {num(rec['valid_loss'], '.4f')}, test {num(rec.get('test_loss'), '.4f')} "
                 "(mean cross-entropy)"] if "valid_loss" in rec else []),
              f"train time  {num(rec['train_time'], '.1f')} s per run",
              f"spikes      firing rate {num(rec['firing_rate'], '.4f')}, {num(rec['sops'], '.4g')} SOPs, "
              f"{num(rec['energy_pj'], '.4g')} pJ per test image"]
    for seed, r in rec.get("per_seed", {}).items():
        lines.append(f"  seed {seed}    valid {num(r['valid_acc'], '.2f')} %, test {num(r['test_acc'], '.2f')} %, "
                     f"{num(r['train_time'], '.1f')} s{'  DIVERGED' if r['diverged'] else ''}")
    return "\n".join(lines)


_CURVE_COLUMNS = (("train_loss", "train loss", ".4f"), ("train_acc", "train %", ".2f"),
                  ("valid_loss", "valid loss", ".4f"), ("valid_acc", "valid %", ".2f"),
                  ("test_loss", "test loss", ".4f"), ("test_acc", "test %", ".2f"), ("epoch_time", "time s", ".2f"))


def format_curves(curves: dict) -> str:
    """Per-epoch curves ({seed: {curve: array}}, Bench.curves) as one small table per seed: a row per
    epoch, a column per curve the table stores ('-' where a value was not measured)."""
    if not curves:
        return "curves      none (the cell was not trained)"
    lines = []
    for seed, c in curves.items():
        shown = [(key, title, fmt) for key, title, fmt in _CURVE_COLUMNS if key in c]
        width = max(len(title) for _, title, _ in shown) + 1
        lines.append(f"curves      seed {seed}")
        lines.append("  epoch" + "".join(title.rjust(width) for _, title, _ in shown))
        for e in range(len(c["valid_acc"])):
            values = [number(float(c[key][e]), fmt) for key, _, fmt in shown]
            lines.append(f"  {e + 1:5d}" + "".join(v.rjust(width) for v in values))
    return "\n".join(lines)


def plain_json(value):
    """JSON-ready copy of nested results: NaN -> null, numpy scalars -> Python numbers."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {str(k): plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_json(v) for v in value]
    if hasattr(value, "item"):
        return plain_json(value.item())
    return value


def number(value, fmt) -> str:
    return "-" if value is None or value != value else format(value, fmt)


def csv_ints(text, what):
    from ..errors import ConfigError
    try:
        return [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{what} must be comma-separated integers, got {text!r}") from None
