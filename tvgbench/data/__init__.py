"""Building and publishing data: source formats, query types, balanced builds, data cards, the
synthetic benchmark and the Hugging Face Hub round trip. Uses the core, never the harness."""
