"""The sync engine: keep every linked account current, once, across replicas."""
