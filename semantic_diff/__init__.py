"""Tree-sitter semantic diff and structured merge (built by the semantic-diff issue)."""
