"""velero: everything about this tool in one place (filled by the split of issue 18)."""
