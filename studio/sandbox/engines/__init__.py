"""The four engines' protocols, imitated on sandbox servers (one module per engine)."""
