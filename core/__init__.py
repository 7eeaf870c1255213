"""What every domain shares: the settings reader, Kubernetes helpers, rule loading and links."""
