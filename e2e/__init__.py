"""The real engine end to end: real Pulumi CLI and providers against a local control plane."""
