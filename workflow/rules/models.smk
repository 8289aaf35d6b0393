# Stage 0: models that come from outside: GGUF files converted once to safetensors, hub ids resolved
# once to a local snapshot (a reference file that later rules take as input), and the content fingerprint
# of every model given by path or GGUF file.


rule model_fingerprint:
    """The model's content digest, computed when the workflow is planned (a parameter, so a changed digest
    reruns this job and everything that reads the model; the job has no other input, so a touched or
    moved model reruns nothing)."""
    output:
        f"{RUN}/models/fingerprints/{{model}}.sha256",
    params:
        digest=lambda w: content_digest(local_model_file(w.model)),
    wildcard_constraints:
        model=f"{models_from('path')}|{models_from('gguf')}",
    localrule: True
    log:
        f"{RUN}/logs/model_fingerprint/{{model}}.log",
    conda:
        f"{ENVS}/torch.yaml"
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../scripts/model_fingerprint.py"


rule convert_gguf:
    output:
        model=directory(f"{RUN}/models/converted/{{model}}"),
    input:
        lib("convert_gguf.py"),
        fingerprint=fill(rules.model_fingerprint.output[0], model="{model}"),
    params:
        gguf=lambda w: config["models"][w.model]["gguf"],
    wildcard_constraints:
        model=models_from("gguf"),
    log:
        f"{RUN}/logs/convert_gguf/{{model}}.log",
    benchmark:
        f"{RUN}/benchmarks/convert_gguf/{{model}}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    resources:
        mem_mb=8000,
        runtime=30,
    script:
        "../scripts/convert_gguf.py"


rule fetch_hub_model:
    output:
        ref=f"{RUN}/models/hub/{{model}}.json",
    input:
        lib("fetch_hub_model.py"),
    params:
        hub=lambda w: config["models"][w.model]["hub"],
        revision=lambda w: config["models"][w.model].get("revision"),
    wildcard_constraints:
        model=models_from("hub"),
    log:
        f"{RUN}/logs/fetch_hub_model/{{model}}.log",
    conda:
        f"{ENVS}/torch.yaml"
    resources:
        mem_mb=1000,
        runtime=240,
    script:
        "../scripts/fetch_hub_model.py"
