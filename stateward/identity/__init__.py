"""Identity adapters: secret hashing and the policy engine."""
