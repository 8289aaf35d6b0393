# Shared by every stage: validated config, the run folder, model locations, library sources.
import sys
from pathlib import Path


sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))
from tokenshift.pipeline.config import validate_config  # noqa: E402
from tokenshift.errors import UserError  # noqa: E402
from tokenshift.pipeline.sources import script_sources  # noqa: E402

try:
    validate_config(config, Path(workflow.basedir) / "config" / "schema.yaml")
except UserError as exc:
    sys.exit(f"tokenshift: invalid config: {exc}")

RUN = f"results/{config['name']}"
ENVS = str(Path(workflow.basedir) / "envs")
ALL_TARGETS = []



def model_dir(name):
    """Where model ``name`` lives: its configured path, else the run's trained copy."""
    path = config["models"].get(name, {}).get("path")
    return path if path else f"{RUN}/models/{name}"


def heavy_resources(mem_mb, runtime):
    """Resources of a torch job; gpu is 0 on the model organism, set by profiles on clusters."""
    return {"mem_mb": mem_mb, "runtime": runtime}


def lib(script):
    """Library files that a script imports (transitively), declared as inputs so edits rerun it."""
    return script_sources(Path(workflow.basedir) / "workflow" / "scripts" / script)


# Per-token dump and shift statistics (dump.smk, stats.smk).
PAIRS = {p["name"]: p for p in config["pairs"]}
DUMP = config["dump"]


def dump_settings():
    """The dump's analysis top_p and temperature: the sampling ones unless set under dump."""
    s = config["sampling"]
    return {
        "top_p": DUMP["top_p"] if DUMP["top_p"] is not None else s["top_p"],
        "temperature": DUMP["temperature"] if DUMP["temperature"] is not None else s["temperature"],
        "extra_top_p": DUMP["extra_top_p"], "batch_size": DUMP["batch_size"], "chunk": DUMP["chunk"],
        "dtype": DUMP["dtype"], "answer_marker": DUMP["answer_marker"],
    }


def responses_model(w):
    """Whose generations a pair's dump scores (dump.responses: tuned | base)."""
    return PAIRS[w.pair][DUMP["responses"]]


def dump_path(pair, dataset):
    return f"{RUN}/dump/{pair}/{dataset}.parquet"


def stats_params():
    s = dict(config["stats"])
    s.pop("primary_pairs")
    return {**s, "top_p": dump_settings()["top_p"]}


# Cross-sampling sweeps (crosssample.smk); the config checks live in tokenshift.pipeline.config.
CS = config["crosssample"]
CS_PAIR_NAMES = CS["pairs"] if CS["pairs"] is not None else [config["pairs"][0]["name"]]
CS_EPS = [f"{e:g}" for e in CS["eps"]]
CS_MODES = ["targeted"] + (["random"] if CS["random_baseline"] else [])
CS_DIR = f"{RUN}/crosssample/{{pair}}/{{dataset}}/{{direction}}/eps{{eps}}"


def cs_models(w):
    """(primary, intervention) model names: forward = base primary, reverse = tuned primary."""
    p = PAIRS[w.pair]
    return (p["base"], p["tuned"]) if w.direction == "forward" else (p["tuned"], p["base"])


def cs_inputs(w):
    """Models and prompts of one sweep; the random baseline also needs its targeted run's rate."""
    prim, inter = cs_models(w)
    inputs = {"primary": model_dir(prim), "intervention": model_dir(inter),
              "dataset": f"{RUN}/data/{w.dataset}.parquet"}
    if w.mode == "random":
        run_dir = CS_DIR.format(pair=w.pair, dataset=w.dataset, direction=w.direction, eps=w.eps)
        inputs["targeted"] = f"{run_dir}/targeted.parquet"
    return inputs

