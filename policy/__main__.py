"""CrossGuard policy pack of the plate platform.

    pulumi preview --stack prod --policy-pack policy

Runs every rule in rules.py on each resource the program and its v4 Charts register. A stack is
held to the production rules when its stack file says `production: true` (policy/platform.json).
"""

from pulumi_policy import (
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

# Pulumi runs the pack with `runpy.run_path(<this folder>)` (pulumi/policy/__main__.py), which puts
# the folder first on sys.path: the sibling module imports by name.
from rules import RULES, Resource, Rule  # type: ignore[import-not-found]


def _policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        resource = Resource(args.resource_type, args.props, args.urn, bool(args.opts.protect))
        for message in rule.check(resource):
            report_violation(message, None)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=(
            EnforcementLevel.MANDATORY if rule.mandatory else EnforcementLevel.ADVISORY
        ),
    )


PolicyPack(name="plate-platform-policy", policies=[_policy(rule) for rule in RULES])
