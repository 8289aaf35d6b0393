# The validated and resolved config, the checks made before any job, and the names every later file
# reads: the run folder, the models, pairs, prompt sets and the stages this run has.
import os
import re
import sys
from pathlib import Path


sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))
from tokenshift.pipeline.config import (  # noqa: E402
    FINETUNING,
    topp_set_name,
    checkpoint_steps,
    model_source,
    prompt_model,
    resolve_config,
    validate_config,
)
from tokenshift.errors import UserError  # noqa: E402
from tokenshift.files.digest import content_digest  # noqa: E402
from tokenshift.models.sources import locate_gguf  # noqa: E402
from tokenshift.pipeline.preflight import check_device, check_local_models, check_vllm  # noqa: E402
from snakemake.settings.types import DeploymentMethod  # noqa: E402
from tokenshift.pipeline.sources import script_sources  # noqa: E402

try:
    resolve_config(validate_config(config))
    check_local_models(config)
except UserError as exc:
    sys.exit(f"tokenshift: invalid config: {exc}")
logger.info(f"tokenshift: config read from {', '.join(map(os.path.relpath, workflow.configfiles)) or 'nothing'}; "
            "the schema fills every key they leave out")

RUN = f"results/{config['name']}"
ENVS = str(Path(workflow.basedir) / "envs")
PAIRS = {p["name"]: p for p in config["pairs"]}
MODEL_NAMES = "|".join(map(re.escape, config["models"]))  # wildcard constraint: the configured models
DATASETS = [d["name"] for d in config["datasets"]]
# Every prompt set of the run by name: the analysed ones and the one training learns from.
DATASET_ENTRIES = {d["name"]: d for d in [*config["datasets"], config["train_dataset"]]}
FT = config["finetuning_data"]
TOPP = config["topp_sampling"]
# Extra prompt sets, sampled and analysed at their own top_p for chosen pairs only, never evaluated or
# cross-sampled: name -> (top_p, pairs). The training prompts (paper Fig. 36-38), and the first
# dataset resampled at each of topp_sampling.top_p (Fig. 26).
EXTRA_SETS = {}
if FT["pairs"]:
    DATASET_ENTRIES[FINETUNING] = {**config["train_dataset"], "name": FINETUNING, "limit": FT["limit"]}
    EXTRA_SETS[FINETUNING] = (FT["top_p"], FT["pairs"])
for _tp in TOPP["top_p"] if TOPP["pairs"] else []:
    _name = topp_set_name(DATASETS[0], _tp)
    DATASET_ENTRIES[_name] = {**DATASET_ENTRIES[DATASETS[0]], "name": _name}
    EXTRA_SETS[_name] = (_tp, TOPP["pairs"])
TOPP_SETS = [d for d in EXTRA_SETS if d != FINETUNING]
TRAIN_DATA = config["train_dataset"]["name"]
VARIANTS = {v["name"]: v for v in config["train_variants"]}
VARIANT_RUNS = [[v, s] for v in VARIANTS for s in VARIANTS[v]["seeds"]]  # (variant, seed) of every training run
CHECKPOINT_DIR = f"{RUN}/models/rl_checkpoints/checkpoint-{{step}}"  # TRL's name for the folder of a saved step
CHECKPOINT_STEPS = checkpoint_steps(config["train_rl"]) if "rl" in config["models"] else []
EVOLUTION = config["evolution"]["enabled"]
DUMP = config["dump"]
STATS = config["stats"]
CS = config["crosssample"]
CS_MODES = ["targeted"] + (["random"] if CS["random_baseline"] else [])
# The stages a config can leave out, and whether this run has them: the final targets and the scorecard's
# inputs follow these same switches.
RUNS = {"crosssample": CS["enabled"], "evolution": EVOLUTION, "variants": bool(VARIANTS)}


# Report categories, in the paper's order (snakemake --report sorts them by name): what each output belongs to.
REPORT_SECTIONS = {
    "scorecard": "0 Scorecard",
    "shifts": "1 Where RL changes the distribution (paper 3.1)",
    "crosssample": "2 Which changes matter: cross-sampling (paper 3.2)",
    "mechanics": "3 Candidate sets, ranks and tails (paper 4.1-4.2)",
    "evolution": "4 Training evolution (paper 4.3)",
    "training": "5 Divergence-weighted training (paper 4.4, App. A.7)",
    "sft": "6 SFT against RL (paper App. A.3, A.8)",
    "robustness": "7 Robustness: sampling top-p (paper App. A.4)",
    "viewer": "8 Token viewer",
}
JOBS = config["jobs"]
