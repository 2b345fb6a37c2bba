"""Core services shared by every stage: errors, settings, layout, hashing, stamps, receipts."""
