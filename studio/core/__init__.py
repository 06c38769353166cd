"""Plain data shared by every layer: normalised engine answers and errors."""
