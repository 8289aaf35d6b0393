"""Config validation against the schema (schema.yaml beside this module: defaults filled, errors name the
key) and the one place where derived values are resolved (every "null means ..." of the schema)."""

from __future__ import annotations

import copy
import math
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from tokenshift.errors import UserError
from tokenshift.training.alpha import AlphaSchedule

# The schema is the one home of every default. It ships inside the package (package data), so an installed
# wheel validates configs exactly as the checkout does.
SCHEMA_PATH = Path(str(resources.files("tokenshift.pipeline") / "schema.yaml"))


def _with_defaults(validator_class):
    """A validator that fills each property's ``default`` before validating it."""
    validate_props = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for key, sub in properties.items():
                if "default" in sub and key not in instance:
                    instance[key] = sub["default"]
        yield from validate_props(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


def _where(error: jsonschema.ValidationError) -> str:
    if error.validator == "anyOf" and isinstance(error.instance, dict) and error.context:
        # A dataset entry written as a mapping: report what is wrong with it, not that it is no shorthand.
        return _where(max((e for e in error.context if e.relative_schema_path[0] == len(error.validator_value) - 1),
                          key=lambda e: len(e.absolute_path), default=error.context[0]))
    if error.validator == "anyOf" and isinstance(error.instance, str):
        path = ".".join(str(p) for p in error.absolute_path)
        return f"config key '{path}': {error.instance!r} is neither 'eval' nor 'train' nor a dataset mapping"
    path = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        key = ".".join(filter(None, [path, extra[0] if extra else ""]))
        return f"config key '{key}' is not allowed (unknown or misspelt)"
    if error.validator == "required":
        return f"config key '{'.'.join(filter(None, [path, error.message.split(chr(39))[1]]))}' is required"
    if error.validator == "contains" and "const" in error.schema["contains"]:
        return f"config key '{path}' must include {error.schema['contains']['const']!r}, got {error.instance}"
    if error.validator == "uniqueItems":
        return f"config key '{path}' must not repeat a value, got {error.instance}"
    return f"config key '{path or '<root>'}': {error.message}"


def validate_config(config: dict[str, Any], schema_path: str | Path = SCHEMA_PATH) -> dict[str, Any]:
    """Validate ``config`` in place (filling defaults, keys in schema order) and return it; raise UserError
    naming the key."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    _expand_shorthands(config)
    errors = sorted(_Validator(schema).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        raise UserError(_where(errors[0]))
    _check_cross_references(config)
    _DEFS.update(schema.get("$defs", {}))
    _schema_order(config, schema)
    return config


_DEFS: dict[str, Any] = {}  # the schema's $defs, for _schema_order


def _expand_shorthands(config: dict[str, Any]) -> None:
    """Write the organism's split names ('eval', 'train') as the dataset entries they stand for.

    Done before validation, so the entries get the schema's defaults like any other; a rule's
    params then never depend on which of the two spellings a config used.
    """
    def entry(item: Any) -> Any:
        if isinstance(item, str) and item in ORGANISM_SPLITS:
            return {"name": item, "generator": "organism", "split": item, "grader": "organism"}
        return item

    if isinstance(config.get("datasets"), list):
        config["datasets"] = [entry(e) for e in config["datasets"]]
    if "train_dataset" in config:
        config["train_dataset"] = entry(config["train_dataset"])


def _schema_order(instance: Any, schema: dict[str, Any]) -> None:
    """Put every section's keys in the schema's order, in place, whatever the YAML's order was.

    A rule's params are compared by their text to decide reruns, so two configs that differ only
    in the order of their keys must give the same params.
    """
    if "$ref" in schema:
        schema = _DEFS[schema["$ref"].rsplit("/", 1)[-1]]
    if isinstance(instance, dict) and "properties" in schema:
        props = schema["properties"]
        for key in [k for k in props if k in instance] + [k for k in instance if k not in props]:
            instance[key] = instance.pop(key)
            if key in props:
                _schema_order(instance[key], props[key])
    elif isinstance(instance, dict) and isinstance(schema.get("additionalProperties"), dict):
        for key in sorted(instance):  # free-form names (models): by name
            instance[key] = instance.pop(key)
            _schema_order(instance[key], schema["additionalProperties"])
    elif isinstance(instance, list) and isinstance(schema.get("items"), dict):
        for item in instance:
            _schema_order(item, schema["items"])
    elif isinstance(instance, dict) and "anyOf" in schema:  # a dataset entry (the mapping branch)
        _schema_order(instance, schema["anyOf"][-1])


# Models that the pipeline trains itself when the config gives them no source.
TRAINED_MODELS = ("base", "rl", "sft", "sft_matched")
MODEL_SOURCES = ("path", "hub", "gguf", "variant", "checkpoint")
# The dataset name of the fine-tuning-data analysis (the first training prompts, finetuning_data).
FINETUNING = "finetuning"


def topp_set_name(dataset: str, top_p: float) -> str:
    """The name of ``dataset`` resampled at ``top_p`` (topp_sampling, Fig. 26): eval at 0.7 is eval_p070."""
    return f"{dataset}_p{round(100 * top_p):03d}"
# The organism's two splits, by their shorthand names.
ORGANISM_SPLITS = ("eval", "train")


def model_source(spec: dict[str, Any]) -> str | None:
    """Which of path, hub, gguf, variant a model entry uses (None: trained by the pipeline)."""
    return next((k for k in MODEL_SOURCES if k in spec), None)


def prompt_model(config: dict[str, Any]) -> str:
    """The model whose tokenizer renders chat prompts: base if configured, else the first pair's base.

    Every pair shares one tokenizer (checked when models load), so any member would do; a fixed
    choice keeps the rendered prompts, and the reruns they cause, independent of pair order.
    """
    return "base" if "base" in config["models"] else config["pairs"][0]["base"]


def _check_models(models: dict[str, Any], variants: list[str], train_rl: dict[str, Any]) -> None:
    for name, spec in models.items():
        given = [k for k in MODEL_SOURCES if k in spec]
        if len(given) > 1:
            raise UserError(f"config key 'models.{name}': give one of {', '.join(MODEL_SOURCES)}, not "
                            f"{' and '.join(given)}")
        if given == ["variant"] and (spec["variant"] not in variants or "seed" not in spec):
            raise UserError(f"config key 'models.{name}.variant': needs a seed and one of the train_variants "
                            f"{variants}")
        if given == ["checkpoint"] and spec["checkpoint"] not in checkpoint_steps(train_rl):
            raise UserError(f"config key 'models.{name}.checkpoint': train_rl saves steps "
                            f"{checkpoint_steps(train_rl)}, not {spec['checkpoint']}")
        if "seed" in spec and given != ["variant"]:
            raise UserError(f"config key 'models.{name}.seed': only a variant model has a seed")
        if given == ["path"] and spec["path"] is None:
            raise UserError(f"config key 'models.{name}.path' is unset: this model is not published; train it (see "
                            "the config's comments) and set the path to its Hugging Face directory")
        if "revision" in spec and given != ["hub"]:
            raise UserError(f"config key 'models.{name}.revision': only a hub model has a revision")
        if not given and name not in TRAINED_MODELS:
            raise UserError(f"config key 'models.{name}': needs a path, hub or gguf; the pipeline trains only "
                            f"{', '.join(TRAINED_MODELS)}")
        if not given and name != "base" and "base" not in models:
            raise UserError(f"config key 'models.{name}': is trained from models.base, which is not configured")


def _check_datasets(config: dict[str, Any]) -> None:
    """Each entry names one source; names are unique (the training set may reuse an analysed one's
    name only for the same entry); chat prompts need a tokenizer that has a chat template."""
    names = [e["name"] for e in config["datasets"]]
    if len(set(names)) != len(names):
        raise UserError(f"config key 'datasets': names must be unique, got {names}")
    train = config["train_dataset"]
    located = [(f"datasets.{i}", e) for i, e in enumerate(config["datasets"])] + [("train_dataset", train)]
    for where, entry in located:
        given = [k for k in ("hub", "path", "generator") if k in entry]
        if len(given) != 1:
            raise UserError(f"config key '{where}': give exactly one of hub, path, generator (got "
                            f"{', '.join(given) or 'none'})")
        if "generator" in entry and entry["split"] not in ORGANISM_SPLITS:
            raise UserError(f"config key '{where}.split': a generator's split is eval or train, got {entry['split']!r}")
        if "generator" in entry and entry["generator"] != "organism" and entry["n"] is None:
            raise UserError(f"config key '{where}.n': generator {entry['generator']!r} needs a problem count")
        renderer = prompt_model(config)
        if entry["prompt"]["chat"] and renderer == "base" and not model_source(config["models"]["base"]):
            raise UserError(f"config key '{where}.prompt.chat': the organism base model has no chat template; "
                            "give models.base a pretrained source")
    if train["name"] in names and config["datasets"][names.index(train["name"])] != train:
        raise UserError(f"config key 'train_dataset.name': {train['name']!r} names a different entry in datasets")
    base = config["models"].get("base")
    if base is not None and not model_source(base) and train.get("generator") != "organism":
        raise UserError("config key 'train_dataset': the organism base model is trained from scratch on the "
                        "organism's task; give models.base a pretrained source to train on other data")


def _check_cross_references(config: dict[str, Any]) -> None:
    """Constraints a JSON schema cannot state: ranges between keys, names that must exist."""
    _check_finite(config)
    task = config["task"]
    if task["max_steps"] < task["min_steps"]:
        raise UserError("config key 'task.max_steps' must be >= task.min_steps")
    variants = [v["name"] for v in config["train_variants"]]
    if len(set(variants)) != len(variants):
        raise UserError(f"config key 'train_variants': names must be unique, got {variants}")
    for i, v in enumerate(config["train_variants"]):
        if v["weighting"] != "none" and config["train_rl"]["steps_per_generation"] == 1:
            raise UserError(f"config key 'train_variants.{i}.weighting': {v['weighting']!r} weights tokens by their "
                            "KL to the sampling policy, which is 0 everywhere with train_rl.steps_per_generation 1")
    rl = config["train_rl"]
    if (rl["prompts_per_step"] * rl["generations"]) % rl["steps_per_generation"]:
        raise UserError(f"config key 'train_rl.steps_per_generation': must divide the rollout's "
                        f"prompts_per_step x generations ({rl['prompts_per_step'] * rl['generations']} responses) "
                        "into equal mini-batches")
    _check_weights_move(config)
    _check_gpus(config)
    known = set(config["models"]) | {variant_model(v, s) for v in config["train_variants"] for s in v["seeds"]}
    _check_models(config["models"], variants, config["train_rl"])
    _check_datasets(config)
    for i, pair in enumerate(config["pairs"]):
        for role in ("base", "tuned"):
            if pair[role] not in known:
                raise UserError(f"config key 'pairs.{i}.{role}': unknown model {pair[role]!r}; known: {sorted(known)}")
    names = [p["name"] for p in config["pairs"]]
    if len(set(names)) != len(names):
        raise UserError(f"config key 'pairs': pair names must be unique, got {names}")
    for model in config["evaluation"]["models"]:
        if model not in known:
            raise UserError(f"config key 'evaluation.models': unknown model {model!r}; known: {sorted(known)}")
    for key in ("crosssample.pairs", "stats.primary_pairs"):
        section, leaf = key.split(".")
        for name in config[section][leaf] or []:
            if name not in names:
                raise UserError(f"config key '{key}': unknown pair {name!r}; known: {sorted(names)}")
    card = config["scorecard"]
    for key, values in (("dapo", [card["dapo"]]), ("simplerl", [card["simplerl"]]), ("sft", card["sft"] or [])):
        for name in values:
            if name is not None and name not in names:
                raise UserError(f"config key 'scorecard.{key}': unknown pair {name!r}; known: {sorted(names)}")
    topp = config["topp_sampling"]
    for name in topp["pairs"]:
        if name not in names:
            raise UserError(f"config key 'topp_sampling.pairs': unknown pair {name!r}; known: {sorted(names)}")
    if topp["pairs"] and config["sampling"]["top_p"] in topp["top_p"]:
        raise UserError(f"config key 'topp_sampling.top_p': {config['sampling']['top_p']} is sampling.top_p, whose "
                        "responses the run has already; list only the other values")
    taken = [d["name"] for d in config["datasets"]] + [config["train_dataset"]["name"]]
    clash = [n for n in (topp_set_name(config["datasets"][0]["name"], tp) for tp in topp["top_p"]) if n in taken]
    if topp["pairs"] and clash:
        raise UserError(f"config key 'topp_sampling.top_p': dataset name {clash[0]!r} is taken")
    for name in config["finetuning_data"]["pairs"]:
        if name not in names:
            raise UserError(f"config key 'finetuning_data.pairs': unknown pair {name!r}; known: {sorted(names)}")
    if FINETUNING in [d["name"] for d in config["datasets"]] + [config["train_dataset"]["name"]]:
        raise UserError(f"config key 'datasets': the name {FINETUNING!r} is reserved for the fine-tuning-data analysis")
    cs = config["crosssample"]
    lists = [("crosssample.eps", cs["eps"])] + [
        (f"crosssample.eps_by.{i}.{r}", entry[r]) for i, entry in enumerate(cs["eps_by"])
        for r in ("forward", "reverse") if r in entry]
    for key, values in lists:
        eps = [f"{e:g}" for e in values]
        if len(set(eps)) != len(eps):
            raise UserError(f"config key '{key}': thresholds must be distinct, got {eps}")
    datasets = [d["name"] for d in config["datasets"]]
    for i, entry in enumerate(cs["eps_by"]):
        for key, known in (("pair", names), ("dataset", datasets)):
            if key in entry and entry[key] not in known:
                raise UserError(f"config key 'crosssample.eps_by.{i}.{key}': unknown {key} {entry[key]!r}; "
                                f"known: {known}")


def _check_finite(node: Any, path: str = "") -> None:
    """No number of a config is inf or nan (YAML's .inf and .nan are floats, and a schema bound lets nan
    pass): one would surface as NaN probabilities deep in training."""
    if isinstance(node, float) and not math.isfinite(node):
        raise UserError(f"config key '{path}': must be a finite number, got {node}")
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in children:
        _check_finite(value, f"{path}.{key}" if path else str(key))


def _check_weights_move(config: dict[str, Any]) -> None:
    """A weighted variant whose weights are 1 at every rollout step trains to the end and only then fails
    (GPU-hours at paper scale): refuse it now. Sigmoid weights need s > 0; both weightings need α ≠ 0 at
    some rollout step the run reaches."""
    rl = config["train_rl"]
    for i, v in enumerate(config["train_variants"]):
        if v["weighting"] == "none":
            continue
        key = f"train_variants.{i}"
        if v["weighting"] == "sigmoid" and v["s"] == 0:
            raise UserError(f"config key '{key}.s': 0 makes every sigmoid weight 1; the variant would train as the "
                            "unweighted baseline")
        a = v["alpha"]
        bad = [k for k in ("start_alpha", "end_alpha") if not math.isfinite(a.get(k, 0.0))]
        if bad:
            raise UserError(f"config key '{key}.alpha.{bad[0]}': must be a finite number, got {a[bad[0]]}")
        rollouts = -(-(v["steps"] or rl["steps"]) // rl["steps_per_generation"])
        schedule = AlphaSchedule(**a)
        if not any(schedule(step) for step in range(rollouts)):
            raise UserError(f"config key '{key}.alpha': α is 0 at every one of the run's {rollouts} rollout steps "
                            f"(start_alpha {a.get('start_alpha', 0.0)}, end_alpha {a.get('end_alpha', 0.0)} from "
                            f"step {a.get('start', 0)}), so no token is ever weighted")


def _check_gpus(config: dict[str, Any]) -> None:
    """GPUs asked of a scheduler that a CPU run would never use."""
    if config["device"] != "cpu":
        return
    for stage, spec in config["jobs"].items():
        if isinstance(spec, dict) and spec.get("gpu"):
            raise UserError(f"config key 'jobs.{stage}.gpu': {spec['gpu']} GPUs asked for a run on device cpu; "
                            "set device to cuda (or auto) or the GPUs to 0")


def variant_model(variant: dict[str, Any], seed: int) -> str:
    """The model name of one seed of a training variant."""
    return f"{variant['name']}_s{seed}"


def checkpoint_steps(train_rl: dict[str, Any]) -> list[int]:
    """The steps at which train_rl saves a checkpoint (every save_every optimiser steps)."""
    return list(range(train_rl["save_every"], train_rl["steps"] + 1, train_rl["save_every"]))


def _resolve_evolution(config: dict[str, Any]) -> None:
    """With evolution on, every saved step N of train_rl becomes a model rl_step<N>, evaluated."""
    evo, rl = config["evolution"], config["models"].get("rl")
    missing = []  # what the evolution needs: rl's checkpoints, and the final rl model's dump on its responses
    if rl is None or model_source(rl) is not None:
        missing.append("rl trained by the pipeline (its checkpoints)")
    if not any(p["base"] == "base" and p["tuned"] == "rl" for p in config["pairs"]):
        missing.append("a pair with base: base and tuned: rl")
    if config["dump"]["responses"] != "tuned":
        missing.append("dump.responses: tuned")
    if evo["enabled"] is None:
        evo["enabled"] = not missing
    if evo["enabled"] and missing:
        raise UserError(f"config key 'evolution.enabled': the training evolution needs {'; '.join(missing)}")
    if evo["enabled"]:
        for step in checkpoint_steps(config["train_rl"]):
            config["models"].setdefault(f"rl_step{step}", {"checkpoint": step})
            if f"rl_step{step}" not in config["evaluation"]["models"]:
                config["evaluation"]["models"].append(f"rl_step{step}")


def _resolve_variants(config: dict[str, Any]) -> None:
    """Variant settings left null take train_rl's; every seed of a variant becomes a model, evaluated."""
    rl = config["train_rl"]
    for v in config["train_variants"]:
        for key, fallback in (("epsilon_high", rl["epsilon_high"]), ("beta", rl["beta"]), ("loss_type", "dapo"),
                              ("steps", rl["steps"]), ("dynamic_sampling", rl["dynamic_sampling"])):
            if v[key] is None:
                v[key] = fallback
        for seed in v["seeds"]:
            name = variant_model(v, seed)
            config["models"].setdefault(name, {"variant": v["name"], "seed": seed})
            if name not in config["evaluation"]["models"]:
                config["evaluation"]["models"].append(name)


def resolve_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fill every value the schema leaves as null "to follow another key", in place, and return ``config``.

    The one home of these fallbacks, applied once right after validation, so that rules and
    scripts only ever see concrete values (and a rule's params are exactly what its script reads):

    - ``dump.top_p``, ``dump.temperature``: the sampling ones (the dump analyses the
      distributions the responses were drawn from);
    - ``crosssample.n_samples``, ``crosssample.batch_size``: the sampling ones;
    - ``crosssample.pairs``: a list with the first pair's name; ``stats.primary_pairs``: every pair;
    - ``scorecard.dapo``: the first pair; ``scorecard.sft``: the pairs whose tuned model is sft or sft_matched;
    - ``crosssample.budgets``: sorted ascending (what the cross-sampling spec requires);
    - ``train_variants``: null settings take train_rl's, and each seed becomes a model
      ``<name>_s<seed>`` in ``models`` and ``evaluation.models``;
    - ``evolution.enabled``: on when the pipeline trains rl; then each checkpoint step N becomes a
      model ``rl_step<N>`` in ``models`` and ``evaluation.models``.

    Idempotent: a resolved config resolves to itself.
    """
    sampling, dump, cs, stats = config["sampling"], config["dump"], config["crosssample"], config["stats"]
    first_pair = config["pairs"][0]["name"]
    for section, key, fallback in (
        (dump, "top_p", sampling["top_p"]),
        (dump, "temperature", sampling["temperature"]),
        (cs, "n_samples", sampling["n_samples"]),
        (cs, "batch_size", sampling["batch_size"]),
        (cs, "pairs", [first_pair]),
        (stats, "primary_pairs", [p["name"] for p in config["pairs"]]),
        (config["scorecard"], "dapo", first_pair),
        (config["scorecard"], "sft", [p["name"] for p in config["pairs"] if p["tuned"] in ("sft", "sft_matched")]),
    ):
        if section[key] is None:
            section[key] = fallback
    cs["budgets"] = sorted(cs["budgets"])  # a sweep forks from the largest; the schema ensured distinct, with 0
    _resolve_variants(config)
    _resolve_evolution(config)
    task = config["task"]
    for entry in [*config["datasets"], config["train_dataset"]]:
        if entry.get("generator") == "organism":  # the task section is the one home of the organism's sizes
            entry["n"] = task["n_eval"] if entry["split"] == "eval" else task["n_train"]
            entry["options"] = {k: task[k] for k in ("n_train", "n_eval", "min_steps", "max_steps")}
    _check_resolved(config)
    return config


def _check_resolved(config: dict[str, Any]) -> None:
    """Constraints on resolved values."""
    sampling, gpus = config["sampling"], config["jobs"]["generate"]["gpu"]
    tp = sampling["vllm"]["tensor_parallel_size"]
    if sampling["backend"] == "vllm" and tp > max(gpus, 1):
        raise UserError(f"config key 'sampling.vllm.tensor_parallel_size': {tp} is more than the {gpus} GPU(s) a "
                        "generation job requests (jobs.generate.gpu)")
    variants = config["train_variants"]
    for i, v in enumerate(variants[1:], 1):  # the tables compare each variant with the first at equal training
        if v["steps"] != variants[0]["steps"]:
            raise UserError(f"config key 'train_variants.{i}.steps': {v['steps']} differs from the baseline's "
                            f"({variants[0]['name']!r}, {variants[0]['steps']}); variants are compared at equal steps")
    cs = config["crosssample"]
    if cs["enabled"]:  # Table 1's targets are the swept pairs' own accuracies
        evaluated = set(config["evaluation"]["models"])
        pairs = {p["name"]: p for p in config["pairs"]}
        for name in cs["pairs"]:
            missing = [pairs[name][role] for role in ("base", "tuned") if pairs[name][role] not in evaluated]
            if missing:
                raise UserError(f"config key 'evaluation.models': cross-sampling pair {name!r} needs the accuracy "
                                f"of {', '.join(missing)}")


@cache
def _schema(path: Path = SCHEMA_PATH) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def schema_default(key: str) -> Any:
    """The schema's default of a dotted config key (``"dump.batch_size"``): what CLI defaults use."""
    node: dict[str, Any] = _schema()
    for part in key.split("."):
        node = node["properties"][part]
    return copy.deepcopy(node["default"])
