# Where the run's shared outputs live: the path patterns that more than one stage names (a rule's output
# here, another's input there), in one place above every rule that uses them.

GENERATIONS = f"{RUN}/generations/{{model}}/{{dataset}}.parquet"
DUMP_FILE = f"{RUN}/dump/{{pair}}/{{dataset}}.parquet"
EVOLUTION_DUMP = f"{RUN}/dump/evolution/step{{step}}/{{dataset}}.parquet"
SWEEP = f"{RUN}/crosssample/{{pair}}/{{dataset}}/{{direction}}/eps{{eps}}/{{mode}}"
CS_RESPONSES = f"{SWEEP}.parquet"
CS_SWITCHES = f"{SWEEP}_switches.parquet"
CS_HANDOVER = f"{SWEEP}_handover.parquet"  # crosssample.tail: vllm: each row up to its handover
