"""csi_driver_nfs: everything about this tool in one place (filled by the split of issue 18)."""
