"""Reports for people: figures from classified orders, rendered as HTML with charts and CSV."""
