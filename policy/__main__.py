"""CrossGuard policy pack of the plate platform.

    pulumi preview --stack prod --policy-pack policy

Runs every rule in rules.py on each resource the program and its v4 Charts register.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for components.versions

from pulumi_policy import (  # noqa: E402
    EnforcementLevel,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from policy.rules import RULES, Resource, Rule  # noqa: E402


def _policy(rule: Rule) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        resource = Resource(args.resource_type, args.props, args.urn, bool(args.opts.protect))
        for message in rule.check(resource):
            report_violation(message)

    return ResourceValidationPolicy(
        name=rule.name,
        description=rule.description,
        validate=validate,
        enforcement_level=EnforcementLevel.MANDATORY if rule.mandatory else EnforcementLevel.ADVISORY,
    )


PolicyPack(name="plate-platform-policy", policies=[_policy(rule) for rule in RULES])
