"""Encryption-key operations: status per key id, rotation of stored ciphertexts."""
