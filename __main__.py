"""plate platform: typed stack config -> Kubernetes provider -> three tiers -> outputs."""

from components.config import load_stack_config
from components.platform import deploy, export_outputs

cfg, secrets = load_stack_config()
platform = deploy(cfg, secrets)
export_outputs(cfg, platform)
